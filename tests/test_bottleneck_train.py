"""The layer-wise step and trainer: locality, update orders, the public step against the
loop, reproducibility, resume, divergence, format layer, accuracies, σ-combined and backprop
baselines, on small synthetic data."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hsic import bottleneck as bt
from hsic.bottleneck._checkpoint import latest_checkpoint, read_jsonl
from hsic.bottleneck._train import epoch_order, run_seeds

SETTINGS = dict(batch_size=64, objective=bt.Objective(beta=100.0), learning_rate=0.05)


def blobs(n=512, classes=4, d=12, seed=0):
    """Gaussian blobs, one per class, split 3:1 into train and test."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int32)
    centres = 2.0 * rng.normal(size=(classes, d))
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    cut = 3 * n // 4
    return bt.Dataset(x[:cut], y[:cut], x[cut:], y[cut:], classes, "blobs")


DATA = blobs()
NET = bt.mlp([16, 16, 4], input_shape=(12,))


def batch():
    x = jnp.asarray(DATA.x_train[:64])
    return x, jax.nn.one_hot(DATA.y_train[:64], 4)


@pytest.mark.parametrize(
    "normalisation", ["nocco", pytest.param("cka", marks=pytest.mark.slow)])
def test_layer_locality(normalisation):
    """Perturbing block j's loss changes the gradient of block j only."""
    params, state = NET.init(0)
    x, y = batch()

    @jax.jit
    def grads(weights):
        def total(p):
            objective = bt.Objective(beta=10.0, normalisation=normalisation)
            losses, _, _ = bt.bottleneck_losses(NET, p, state, x, y, objective=objective)
            return jnp.sum(weights * losses)

        return jax.grad(total)(params)

    base = grads(jnp.ones(3))
    for j in range(3):
        perturbed = grads(jnp.ones(3).at[j].set(3.7))
        for i in range(3):
            same = jax.tree_util.tree_map(
                lambda a, b: bool(jnp.array_equal(a, b)), base[i], perturbed[i])
            if i == j:
                assert not all(jax.tree_util.tree_leaves(same))
            else:
                assert all(jax.tree_util.tree_leaves(same)), (i, j)


def test_sequential_and_simultaneous_differ_after_the_first_block():
    """One step: block 0 sees the same input in both orders; block 1 sees the updated block 0
    only in the sequential order."""
    one = bt.Dataset(DATA.x_train[:64], DATA.y_train[:64], None, None, 4, "one batch")
    runs = {u: bt.train(NET, one, epochs=1, update=u, evaluate=False, rng=0, **SETTINGS)
            for u in ("simultaneous", "sequential")}
    a, b = runs["simultaneous"].params, runs["sequential"].params
    for leaf_a, leaf_b in zip(jax.tree_util.tree_leaves(a[0]), jax.tree_util.tree_leaves(b[0]),
                              strict=True):
        np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(a[1]["w"], b[1]["w"], atol=1e-6)


def test_sequential_step_matches_manual_layer_by_layer_updates():
    """The sequential step against a hand-written loop: update block i with the gradient of
    its loss, then recompute its output with the new weights for block i + 1."""
    one = bt.Dataset(DATA.x_train[:64], DATA.y_train[:64], None, None, 4, "one batch")
    opt = optax.sgd(0.05)
    objective = bt.Objective(beta=100.0, sigma=5.0, normalisation="cka")
    run = bt.train(NET, one, epochs=1, update="sequential", evaluate=False, optimizer=opt,
                   batch_size=64, objective=objective, rng=3)
    # The trainer's first batch of one 64-sample epoch is a permutation of all of it, and the
    # losses are permutation invariant, so the whole set gives the same step.
    init_key, _ = run_seeds(3)
    params, state = NET.init(init_key)
    x, y = batch()
    Kx, Ky = bt.bottleneck_gram(x, sigma=5.0), bt.bottleneck_gram(y, sigma=5.0)
    h = x
    for i in range(3):
        def loss(p, i=i, h=h):
            z, _ = NET.block(i, p, state[i], h, train=True)
            return bt.layer_loss(z, Kx, Ky, objective=objective)[0]

        g = jax.grad(loss)(params[i])
        params[i] = jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, params[i], g)
        h, _ = NET.block(i, params[i], state[i], h, train=True)
    for got, want in zip(jax.tree_util.tree_leaves(run.params),
                         jax.tree_util.tree_leaves(params), strict=True):
        # float32: the batch order differs (a permutation), so sums round differently.
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------------------------
# The public per-batch step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("update", ["simultaneous", "sequential"])
def test_hand_written_loop_matches_train(update):
    """One epoch of a loop written with the public step gives exactly train's weights, for
    the same rng: train runs the same step (with its batches sliced on the device)."""
    objective, opt = bt.Objective(beta=100.0), bt.paper_optimizer(0.05)
    run = bt.train(NET, DATA, objective=objective, optimizer=opt, update=update, epochs=1,
                   batch_size=64, rng=7, evaluate=False)
    step = bt.layerwise_step(NET, objective=objective, optimizer=opt, update=update)
    init_key, order_base = run_seeds(7)  # how train draws its weights and batch order
    state = step.init(*NET.init(init_key))
    order = np.asarray(epoch_order(order_base, 0, len(DATA.x_train)))
    update_fn = jax.jit(step.update)
    for idx in order[: len(order) // 64 * 64].reshape(-1, 64):
        state, metrics = update_fn(state, DATA.x_train[idx], jax.nn.one_hot(DATA.y_train[idx], 4))
    assert metrics.losses.shape == metrics.nhsic_zx.shape == metrics.nhsic_zy.shape == (3,)
    for got, want in zip(jax.tree_util.tree_leaves((state.params, state.model_state)),
                         jax.tree_util.tree_leaves((run.params, run.state)), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("update", ["simultaneous", "sequential"])
def test_a_nan_step_leaves_the_state_unchanged(update):
    step = bt.layerwise_step(NET, objective=bt.Objective(beta=100.0), update=update)
    state = step.init(*NET.init(0))
    x, y = batch()
    update_fn = jax.jit(step.update)
    state, _ = update_fn(state, x, y)  # a good step: the momentum is no longer zero
    new, metrics = update_fn(state, x.at[3, 0].set(jnp.nan), y)
    assert not np.isfinite(np.asarray(metrics.losses)).all()
    for got, want in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(state),
                         strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_step_is_shared_and_compiles_once():
    """Equal settings give the same step; its jitted update returns a state of the type it
    takes, so a second call of the same shapes does not retrace."""
    step = bt.layerwise_step(NET, objective=bt.Objective(beta=100.0))
    assert bt.layerwise_step(NET, objective=bt.Objective(beta=100), update="simultaneous",
                             optimizer=bt.paper_optimizer()) is step
    assert bt.layerwise_step(NET, objective=bt.Objective(beta=10.0)) is not step
    traces = []

    @jax.jit
    def update(state, x, y):
        traces.append(None)
        return step.update(state, x, y)

    state = step.init(*NET.init(0))
    assert isinstance(state, bt.StepState) and len(state.opt_states) == NET.n_blocks
    x, y = batch()
    state, metrics = update(state, x, y)
    state, metrics = update(state, x + 1.0, y)
    assert len(traces) == 1
    assert isinstance(state, bt.StepState) and isinstance(metrics, bt.StepMetrics)


def test_step_bad_inputs():
    with pytest.raises(ValueError, match="`model` must be a hsic.bottleneck.Network"):
        bt.layerwise_step("mlp")
    with pytest.raises(ValueError, match="`update` must be one of 'simultaneous', 'sequential'"):
        bt.layerwise_step(NET, update="async")
    with pytest.raises(ValueError, match="`objective` must be a hsic.bottleneck.Objective"):
        bt.layerwise_step(NET, objective=None)
    step = bt.layerwise_step(NET)
    state = step.init(*NET.init(0))
    x, y = batch()
    with pytest.raises(ValueError, match=r"`x` and `y_onehot` must hold the same number"):
        step.update(state, x, y[:10])
    with pytest.raises(ValueError, match=r"`x` and `y_onehot` must hold the same number"):
        step.update(state, x, DATA.y_train[:64])  # integer labels, not one-hot


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    return bt.train(NET, DATA, epochs=3, rng=0, format_epochs=20, **SETTINGS)


def test_end_to_end_beats_chance(trained):
    last = trained.history[-1]
    assert last["test_acc"] > 0.85  # chance is 0.25
    assert last["test_acc_unformatted"] > 0.6
    assert len(last["loss"]) == len(last["nhsic_zx"]) == len(last["nhsic_zy"]) == 3


def test_same_rng_same_weights_other_rng_differs():
    first = bt.train(NET, DATA, epochs=1, rng=0, evaluate=False, **SETTINGS)
    again = bt.train(NET, DATA, epochs=1, rng=0, evaluate=False, **SETTINGS)
    for a, b in zip(jax.tree_util.tree_leaves((first.params, first.state)),
                    jax.tree_util.tree_leaves((again.params, again.state)), strict=True):
        np.testing.assert_array_equal(a, b)
    other = bt.train(NET, DATA, epochs=1, rng=1, evaluate=False, **SETTINGS)
    assert not np.allclose(other.params[0]["w"], first.params[0]["w"])
    # The same init key with another batch order also changes the result: the order is seeded.
    assert first.history[0]["loss"] != other.history[0]["loss"]
    # A JAX key is an rng too, and is honoured.
    keyed = bt.train(NET, DATA, epochs=1, rng=jax.random.key(3), evaluate=False, **SETTINGS)
    assert not np.allclose(keyed.params[0]["w"], first.params[0]["w"])


def test_rng_none_records_its_seed_and_resumes_with_it(tmp_path):
    """rng=None draws a fresh seed, recorded in config.json: passing it back repeats the run,
    and resuming with rng=None takes it from config.json (the same batch order)."""
    fresh = bt.train(NET, DATA, epochs=2, run_dir=tmp_path / "fresh", evaluate=False,
                     **SETTINGS)
    seed = json.loads((tmp_path / "fresh" / "config.json").read_text())["rng"]
    assert isinstance(seed, int) and fresh.config["rng"] == seed
    again = bt.train(NET, DATA, epochs=2, rng=seed, evaluate=False, **SETTINGS)
    for a, b in zip(jax.tree_util.tree_leaves(fresh.params),
                    jax.tree_util.tree_leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    other = bt.train(NET, DATA, epochs=1, evaluate=False, **SETTINGS)
    assert other.config["rng"] != seed
    part = tmp_path / "part"
    first = bt.train(NET, DATA, epochs=1, run_dir=part, evaluate=False, **SETTINGS)
    resumed = bt.train(NET, DATA, epochs=2, run_dir=part, resume=True, evaluate=False,
                       **SETTINGS)
    assert resumed.config["rng"] == first.config["rng"]
    whole = bt.train(NET, DATA, epochs=2, rng=first.config["rng"], evaluate=False, **SETTINGS)
    for a, b in zip(jax.tree_util.tree_leaves(whole.params),
                    jax.tree_util.tree_leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_gives_the_uninterrupted_result(tmp_path):
    full = bt.train(NET, DATA, epochs=2, rng=5, run_dir=tmp_path / "full", **SETTINGS)
    part = tmp_path / "part"
    bt.train(NET, DATA, epochs=1, rng=5, run_dir=part, **SETTINGS)
    resumed = bt.train(NET, DATA, epochs=2, rng=5, run_dir=part, resume=True, **SETTINGS)
    for a, b in zip(jax.tree_util.tree_leaves((full.params, full.state)),
                    jax.tree_util.tree_leaves((resumed.params, resumed.state)), strict=True):
        np.testing.assert_array_equal(a, b)
    logs = [read_jsonl(d / "metrics.jsonl") for d in (tmp_path / "full", part)]
    assert [r["epoch"] for r in logs[1]] == [1, 2]
    for a, b in zip(*logs, strict=True):
        assert a["loss"] == b["loss"] and a["nhsic_zy"] == b["nhsic_zy"]
        assert set(a) == {"epoch", "step", "loss", "nhsic_zx", "nhsic_zy", "saturation_zx",
                          "saturation_zy", "train_acc", "test_acc", "train_acc_unformatted",
                          "test_acc_unformatted", "wall_time"}
    assert os.path.basename(latest_checkpoint(part)) == "epoch_0002"
    model, params, state, config = bt.load_run(part)
    assert model == NET and config["beta"] == 100.0 and config["rng"] == 5
    np.testing.assert_array_equal(params[2]["w"], full.params[2]["w"])
    with pytest.raises(ValueError, match="Cannot resume: the checkpoint was trained with beta"):
        bt.train(NET, DATA, epochs=3, rng=5, run_dir=part, resume=True,
                 **{**SETTINGS, "objective": bt.Objective(beta=1.0)})


def test_run_files_are_written_atomically(tmp_path, monkeypatch):
    """config.json and the metrics log rewritten on resume go through the atomic writer
    (temporary file + os.replace), and a failed rewrite leaves the old log intact."""
    from hsic.bottleneck import _checkpoint

    written = []
    real = _checkpoint.atomic_write

    def recording(path, write):
        written.append(os.path.basename(path))
        real(path, write)

    run = tmp_path / "run"
    bt.train(NET, DATA, epochs=1, rng=5, run_dir=run, evaluate=False, **SETTINGS)
    before = (run / "metrics.jsonl").read_text()
    monkeypatch.setattr(_checkpoint, "atomic_write", recording)
    bt.train(NET, DATA, epochs=2, rng=5, run_dir=run, resume=True, evaluate=False, **SETTINGS)
    assert "config.json" in written and "metrics.jsonl" in written
    assert json.loads((run / "config.json").read_text())["beta"] == SETTINGS["objective"].beta
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and lines[0] == before.strip()
    # A record that cannot be written fails the whole rewrite: the old file stays.
    log = run / "metrics.jsonl"
    with pytest.raises(ValueError, match=r"`records\[1\]` must be a dict"):
        _checkpoint.write_jsonl(log, [{"epoch": 1}, "not a record"])
    assert log.read_text().splitlines() == lines
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    steps = len(DATA.x_train) // 64
    # Fine for the first epoch, then the step size becomes NaN (the next loss is NaN).
    poisoned = optax.chain(
        optax.sgd(0.05),
        optax.scale_by_schedule(lambda count: jnp.where(count >= steps, jnp.nan, 1.0)),
    )
    with pytest.raises(bt.TrainingDiverged, match=r"block \d+ became nan at step \d+") as err:
        bt.train(NET, DATA, epochs=3, optimizer=poisoned, run_dir=tmp_path, evaluate=False,
                 **SETTINGS)
    assert "epoch_0001" in str(err.value)
    assert f"step {steps + 2}" in str(err.value)  # the first step after the poisoned update
    assert os.path.basename(latest_checkpoint(tmp_path)) == "epoch_0001"
    assert [r["epoch"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1]


def test_hsic_plane_matches_the_losses(trained):
    x, y = DATA.x_train[:128], DATA.y_train[:128]
    plane = bt.hsic_plane(trained.model, trained.params, trained.state, x, y, batch_size=64)
    want = [bt.bottleneck_losses(trained.model, trained.params, trained.state, x[s:s + 64],
                                 jax.nn.one_hot(y[s:s + 64], 4), train=False)[1]
            for s in (0, 64)]
    # float32, jitted against eager: NOCCO's inverse (cond ~1e3-1e4) turns rounding
    # differences into relative differences up to ~1e-3.
    np.testing.assert_allclose(plane.nhsic_zx, np.mean([w[0] for w in want], axis=0), rtol=3e-3)
    np.testing.assert_allclose(plane.nhsic_zy, np.mean([w[1] for w in want], axis=0), rtol=3e-3)
    assert plane.nhsic_zy[-1] > plane.nhsic_zy[0] * 0.5


def test_unformatted_accuracy_hand_case():
    # Class 0's mean activation peaks at unit 2, class 1's at unit 0.
    feats = np.array([[0, 1, 5], [0, 0, 3], [4, 0, 1], [1, 2, 0]], dtype=float)
    labels = np.array([0, 0, 1, 1])
    mapping = bt.class_map(feats, labels, num_classes=2)
    np.testing.assert_array_equal(mapping, [2, 0])
    # Sample 3 (class 1) has its argmax at unit 1, not 0: 3 of 4 correct.
    assert bt.unformatted_accuracy(feats, labels, mapping) == 0.75


def test_format_layer_against_logistic_regression():
    """The format layer's accuracy is close to scikit-learn's multinomial logistic regression
    on the same features."""
    from sklearn.linear_model import LogisticRegression

    layer = bt.train_format(DATA.x_train, DATA.y_train, num_classes=4, epochs=50, rng=0)
    ours = bt.format_accuracy(layer, DATA.x_test, DATA.y_test)
    sk = LogisticRegression(max_iter=1000).fit(DATA.x_train, DATA.y_train)
    assert ours >= sk.score(DATA.x_test, DATA.y_test) - 0.03


@pytest.mark.slow  # the CLI tests run both paths in CI; this checks their accuracy
def test_backprop_and_sigma_combined_beat_chance():
    _, _, _, acc = bt.train_backprop(NET, DATA, epochs=3, batch_size=64, learning_rate=0.05)
    assert acc["test_acc"] > 0.85 and len(acc["epoch_times"]) == 3
    runs, layer, acc = bt.train_sigma_combined(NET, DATA, sigmas=(1.0, 5.0), epochs=1,
                                               evaluate=False, format_epochs=20, batch_size=64,
                                               objective=bt.Objective(beta=100.0),
                                               learning_rate=0.05)
    assert len(runs) == 2 and acc["test_acc"] > 0.85
    assert not np.allclose(runs[0].params[0]["w"], runs[1].params[0]["w"])


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="`update` must be one of"):
        bt.train(NET, DATA, update="async")
    with pytest.raises(ValueError, match="`objective` must be a hsic.bottleneck.Objective"):
        bt.train(NET, DATA, objective={"beta": 50.0})
    with pytest.raises(ValueError, match="`epochs` must be a positive integer; got 0"):
        bt.train(NET, DATA, epochs=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be at most the number of training"):
        bt.train(NET, DATA, batch_size=10_000)
    with pytest.raises(ValueError, match="`batch_size` must be at least 2"):
        bt.train(NET, DATA, batch_size=1)
    with pytest.raises(ValueError, match="`learning_rate` must be a positive number"):
        bt.train(NET, DATA, learning_rate=0.0)
    with pytest.raises(ValueError, match="`resume`=True needs a `run_dir`"):
        bt.train(NET, DATA, resume=True)
    with pytest.raises(ValueError, match="`data` must be a Dataset"):
        bt.train(NET, (DATA.x_train, DATA.y_train))
    with pytest.raises(ValueError, match="`format_epochs` must be a non-negative integer"):
        bt.train(NET, DATA, format_epochs=-1)
    with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer \(below 2\*\*64\)"):
        bt.train(NET, DATA, rng=-1)
    with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer \(below 2\*\*64\)"):
        bt.train_format(DATA.x_train, DATA.y_train, num_classes=4, rng=1.5)
    with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer \(below 2\*\*64\)"):
        bt.train_backprop(NET, DATA, rng="0")
    with pytest.raises(ValueError, match="holds no checkpoint"):
        bt.load_run(tmp_path)
    with pytest.raises(ValueError, match="`sigmas` must list at least one"):
        bt.train_sigma_combined(NET, DATA, sigmas=())
    with pytest.raises(ValueError, match="`sigmas` must be a positive finite number; got 0"):
        bt.train_sigma_combined(NET, DATA, sigmas=(1.0, 0))
    with pytest.raises(ValueError, match="`x` and `y` must have the same number"):
        bt.hsic_plane(NET, *NET.init(0), DATA.x_train, DATA.y_train[:5])
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer; got 2.0"):
        bt.class_map(np.eye(2), [0, 1], num_classes=2.0)
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer; got 0"):
        bt.hsic_plane(NET, *NET.init(0), DATA.x_train, DATA.y_train, num_classes=0)
    with pytest.raises(ValueError, match="`momentum` must be a non-negative number"):
        bt.paper_optimizer(0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="`weight_decay` must be a non-negative number"):
        bt.paper_optimizer(0.1, weight_decay=float("inf"))
    with pytest.raises(ValueError, match="`learning_rate` must be a positive number; got 0"):
        bt.paper_optimizer(0)
    json.dumps(bt.mlp([3]).config_dict())  # checkpoint metadata is plain JSON
