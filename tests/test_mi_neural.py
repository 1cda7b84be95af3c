"""Neural MI bounds (hsic.mi.infonce, nwj, mine, smile): formulas, accuracy, rng, options, checks.

All fits use one sample size and dimension, so the training loop compiles once for the file.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hsic.mi
from hsic.mi import Critic, Training, _bounds, _training

TRUE_MI = -0.5 * math.log(1 - 0.8**2)  # bivariate normal, rho = 0.8: 0.5108 nats
N = 2000
STEPS = 300
TRAINING = Training(steps=STEPS)
ESTIMATORS = ["infonce", "nwj", "mine", "smile"]


@pytest.fixture(scope="module")
def normal():
    return hsic.mi.tasks.get("normal-1d-0.8").sample(N, rng=0)


@pytest.fixture(scope="module")
def independent():
    rng = np.random.default_rng(7)
    return rng.normal(size=N), rng.normal(size=N)


# --- the bounds, against a NumPy transcription with explicit loops ---------------------------


def np_bounds(S, tau):
    """The four bounds and the JS objective on a score matrix, written out term by term."""
    b = S.shape[0]
    diag = [S[i, i] for i in range(b)]
    off = [S[i, j] for i in range(b) for j in range(b) if i != j]
    infonce = np.mean([S[i, i] - math.log(sum(math.exp(S[i, j]) for j in range(b)) / b)
                       for i in range(b)])
    nwj = np.mean(diag) - math.exp(-1) * np.mean([math.exp(s) for s in off])
    dv = np.mean(diag) - math.log(np.mean([math.exp(s) for s in off]))
    smile = np.mean(diag) - math.log(np.mean([math.exp(min(max(s, -tau), tau)) for s in off]))
    softplus = lambda t: math.log1p(math.exp(t))  # noqa: E731
    js = -np.mean([softplus(-d) for d in diag]) - np.mean([softplus(s) for s in off])
    return dict(infonce=infonce, nwj=nwj, dv=dv, smile=smile, js=js)


def test_bounds_hand_computed_case():
    # All scores 0: InfoNCE = 0 − log(3/3) = 0, NWJ = 0 − 1/e, DV = 0, JS = −2 log 2.
    S = jnp.zeros((3, 3))
    assert float(_bounds.infonce_bound(S)) == pytest.approx(0.0, abs=1e-7)
    assert float(_bounds.nwj_bound(S)) == pytest.approx(-math.exp(-1), rel=1e-6)
    assert float(_bounds.dv_bound(S)) == pytest.approx(0.0, abs=1e-7)
    assert float(_bounds.smile_bound(S, 1.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(_bounds.js_objective(S)) == pytest.approx(-2 * math.log(2), rel=1e-6)
    # Diagonal log 2, off-diagonal 0, b = 2: InfoNCE = log 2 − log((2 + 1)/2) = log(4/3).
    S = jnp.array([[math.log(2), 0.0], [0.0, math.log(2)]])
    assert float(_bounds.infonce_bound(S)) == pytest.approx(math.log(4 / 3), rel=1e-6)
    assert float(_bounds.dv_bound(S)) == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("tau", [0.5, 10.0])
def test_bounds_match_numpy_transcription(tau):
    S = np.random.default_rng(3).normal(scale=2.0, size=(6, 6))
    S[np.diag_indices(6)] += 1.5
    want = np_bounds(S, tau)
    S64 = jnp.asarray(S, jnp.float32)
    got = dict(
        infonce=_bounds.infonce_bound(S64), nwj=_bounds.nwj_bound(S64),
        dv=_bounds.dv_bound(S64), smile=_bounds.smile_bound(S64, tau),
        js=_bounds.js_objective(S64),
    )
    for name, value in got.items():
        assert float(value) == pytest.approx(want[name], rel=1e-5, abs=1e-5), name
    if tau == 10.0:  # no score is clipped: SMILE is the DV bound
        assert want["smile"] == pytest.approx(want["dv"])


# --- estimates --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_close_to_true_mi_on_bivariate_normal(name, normal):
    x, y = normal
    estimate = getattr(hsic.mi, name)(x, y, training=TRAINING, rng=0)
    # Lower bounds: a little below the truth (about 0.03-0.08 nats at this budget).
    assert TRUE_MI - 0.12 < estimate < TRUE_MI + 0.05


@pytest.mark.parametrize("name", ESTIMATORS)
def test_near_zero_on_independent_data(name, independent):
    x, y = independent
    assert abs(getattr(hsic.mi, name)(x, y, training=TRAINING, rng=0)) < 0.05


def test_rng_reproducible_and_matters(normal):
    x, y = normal
    a = hsic.mi.infonce(x, y, training=TRAINING, rng=1)
    assert hsic.mi.infonce(x, y, training=TRAINING, rng=1) == a
    assert hsic.mi.infonce(x, y, training=TRAINING, rng=jax.random.key(1)) == a
    assert hsic.mi.infonce(x, y, training=TRAINING, rng=jax.random.PRNGKey(1)) == a
    assert hsic.mi.infonce(x, y, training=TRAINING, rng=2) != a


def test_base_two_gives_bits(normal):
    x, y = normal
    nats = hsic.mi.nwj(x, y, training=TRAINING, rng=0)
    assert hsic.mi.nwj(x, y, training=TRAINING, rng=0, base=2) == pytest.approx(nats / math.log(2))


def test_more_steps_reuse_the_compiled_loop(normal):
    x, y = normal
    hsic.mi.smile(x, y, training=TRAINING, rng=0)
    before = _training._train_chunk._cache_size()
    hsic.mi.smile(x, y, training=Training(steps=STEPS + 70, learning_rate=5e-4), rng=0, tau=3.0)
    hsic.mi.mine(x, y, training=Training(steps=20), rng=0, ma_rate=0.05)
    assert _training._train_chunk._cache_size() == before


def test_held_out_split_and_progress_bar(normal, capsys):
    x, y = normal
    fit = _training.fit(x, y, bound="infonce", training=Training(steps=10), rng=0, progress=True)
    assert fit.scores.shape == (N // 2, N // 2)
    assert len(np.unique(fit.test_index)) == N // 2
    assert "infonce critic" in capsys.readouterr().err


@pytest.mark.parametrize("name", ESTIMATORS)
def test_small_n_held_out_value_is_not_wildly_negative(name):
    # n = 200: 80 samples train the critic, 20 choose it, 100 are held out. Without the choice
    # on the validation part and the clipped inputs, an overfitted critic gives held-out values
    # well below 0 at this size.
    x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(200, rng=0)
    fit = _training.fit(x, y, bound=name, training=TRAINING, rng=0)
    assert -0.25 < fit.value() < TRUE_MI + 0.1
    # the chosen critic is the best one on the validation part, checked every CHUNK steps
    chosen = fit.validation[fit.step // _training.CHUNK]
    assert chosen > max(fit.validation) - _training.MIN_GAIN - 1e-9
    assert len(fit.validation) <= STEPS // _training.CHUNK + 1


def test_early_stopping_keeps_the_initial_critic_on_independent_data():
    # With nothing to learn, no trained critic beats the initial one (scores ~0) on the
    # validation part for long: training stops after PATIENCE checks without progress.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    for name in ESTIMATORS:
        fit = _training.fit(x, y, bound=name, training=Training(steps=1000), rng=0)
        assert len(fit.validation) < 1000 // _training.CHUNK + 1  # stopped early
        assert abs(fit.value()) < 0.1


def test_nwj_critic_is_one_plus_the_network():
    # The NWJ optimum under independence is f = 1; the network's zero output maps to it.
    S = jnp.zeros((4, 4))
    assert float(_bounds.evaluate_bound(1, S, 1.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(_bounds.evaluate_bound(1, S - 1.0, 1.0)) == pytest.approx(
        float(_bounds.nwj_bound(S - 1.0 + 1.0)), abs=1e-7
    )


def test_float64_runs_in_float64_without_x64_mode():
    # dtype="float64" turns on JAX's x64 mode for the fit (no truncation to float32, no warning:
    # the tests run with warnings as errors).
    x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(200, rng=0)
    fit = _training.fit(x, y, bound="nwj", training=Training(steps=50), rng=0, dtype="float64")
    assert fit.scores.dtype == np.float64
    value = hsic.mi.nwj(x, y, training=Training(steps=50), rng=0, dtype="float64")
    assert value == fit.value() and -0.5 < value < TRUE_MI + 0.1


def test_concat_critic_on_multivariate_data():
    task = hsic.mi.tasks.get("normal-dense-3x3-0.5")
    x, y = task.sample(600, rng=0)
    critic = Critic(kind="concat", hidden=(32,))
    estimate = hsic.mi.infonce(x, y, critic=critic, training=Training(steps=150), rng=0)
    assert task.mi - 0.2 < estimate < task.mi + 0.05


# --- bad inputs -------------------------------------------------------------------------------

BAD_CRITICS = [
    (dict(kind="bilinear"), "`kind` must be one of 'separable', 'concat'; got 'bilinear'"),
    (dict(hidden=()), "`hidden` must be a non-empty sequence of positive layer widths"),
    (dict(hidden=(64, 0)), r"`hidden` must be .*got \(64, 0\)"),
    (dict(hidden=(64, True)), r"`hidden` must be .*got \(64, True\)"),
    (dict(hidden=64), "`hidden` must be a non-empty sequence"),
    (dict(embed_dim=0), "`embed_dim` must be a positive integer; got 0"),
]
BAD_TRAININGS = [
    (dict(steps=0), "`steps` must be a positive integer; got 0"),
    (dict(steps=10.0), "`steps` must be a positive integer; got 10.0"),
    (dict(batch_size=1), r"`batch_size` must be an integer >= 2 \(a batch needs negatives\)"),
    (dict(learning_rate=0.0), "`learning_rate` must be a positive finite number; got 0.0"),
    (dict(learning_rate=float("nan")), "`learning_rate` must be a positive finite number"),
    (dict(test_size=1.0), "`test_size` must be a number strictly between 0 and 1; got 1.0"),
]


@pytest.mark.parametrize(("fields", "match"), BAD_CRITICS)
def test_bad_critic_fails_when_built(fields, match):
    with pytest.raises(ValueError, match=match):
        Critic(**fields)


@pytest.mark.parametrize(("fields", "match"), BAD_TRAININGS)
def test_bad_training_fails_when_built(fields, match):
    with pytest.raises(ValueError, match=match):
        Training(**fields)


def test_options_are_frozen_and_normalised():
    critic = Critic(hidden=[16, np.int64(8)])
    assert critic.hidden == (16, 8) and all(type(w) is int for w in critic.hidden)
    assert Critic() == Critic(kind="separable", hidden=(64, 64), embed_dim=32)
    assert Training() == Training(steps=500, batch_size=128, learning_rate=1e-3, test_size=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        critic.kind = "concat"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Training().steps = 10


BAD_OPTIONS = [
    (dict(critic="concat"), r"`critic` must be a hsic.mi.Critic, e.g. .*; got 'concat'"),
    (dict(training={"steps": 10}), r"`training` must be a hsic.mi.Training, e.g. .*; got \{"),
    (dict(rng=-1), r"`rng` must be a non-negative integer \(below 2\*\*64\), a JAX key"),
    (dict(rng="a"), r"`rng` must be a non-negative integer \(below 2\*\*64\), a JAX key"),
    (dict(base=1), "`base` must be None"),
    (dict(progress="yes"), "`progress` must be True, False or None"),
    (dict(dtype="int32"), "`dtype` must be float32 or float64"),
]


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize(("options", "match"), BAD_OPTIONS)
def test_bad_options(name, options, match):
    x = np.arange(20.0)
    with pytest.raises(ValueError, match=match):
        getattr(hsic.mi, name)(x, x, **{"training": Training(steps=1), **options})


def test_bad_bound_specific_options():
    x = np.arange(20.0)
    with pytest.raises(ValueError, match="`tau` must be a positive finite number; got 0"):
        hsic.mi.smile(x, x, tau=0)
    with pytest.raises(ValueError, match="`ma_rate` must be a number strictly between 0 and 1"):
        hsic.mi.mine(x, x, ma_rate=1.5)
    # Each knob belongs to one bound: the others do not take it.
    with pytest.raises(TypeError):
        hsic.mi.infonce(x, x, tau=3.0)
    with pytest.raises(ValueError, match="`tau` applies only to bound='smile'; got tau=3.0"):
        _training.fit(x, x, bound="mine", tau=3.0)
    with pytest.raises(ValueError, match="`ma_rate` applies only to bound='mine'"):
        _training.fit(x, x, bound="nwj", ma_rate=0.1)


def test_bad_samples():
    x = np.arange(20.0)
    with pytest.raises(ValueError, match="needs at least 8 samples; got n=5"):
        hsic.mi.infonce(x[:5], x[:5])
    with pytest.raises(ValueError, match="same number of samples"):
        hsic.mi.nwj(x, x[:10])
    with pytest.raises(ValueError, match="`y` must be finite"):
        hsic.mi.mine(x, np.where(x > 3, np.nan, x))
    with pytest.raises(ValueError, match="`x` must be 1-D"):
        hsic.mi.smile(np.zeros((20, 2, 2)), x)
