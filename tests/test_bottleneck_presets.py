"""Presets and what a run records: the paper preset's settings reaching the step (sequential
update, plain SGD, the unpadded stem), explicit options overriding a preset, config.json,
the format protocols and format.json, eval_every, the saturation ratios and their warning."""

import dataclasses
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hsic import bottleneck as bt
from hsic.bottleneck import _evaluate, _train
from hsic.bottleneck._checkpoint import read_jsonl


def blobs(n=320, classes=4, shape=(12,), seed=0):
    """Gaussian blobs, one per class, split 4:1 into train and test."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int32)
    d = int(np.prod(shape))
    centres = 2.0 * rng.normal(size=(classes, d))
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32).reshape(n, *shape)
    cut = 4 * n // 5
    return bt.Dataset(x[:cut], y[:cut], x[cut:], y[cut:], classes, "blobs")


DATA = blobs()
NET = bt.mlp([16, 8], input_shape=(12,))


@pytest.fixture
def spy(monkeypatch):
    """The arguments of every layerwise_step that train builds."""
    calls = []
    real = _train.layerwise_step

    def recording(model, **kwargs):
        calls.append({"model": model, **kwargs})
        return real(model, **kwargs)

    monkeypatch.setattr(_train, "layerwise_step", recording)
    return calls


# --------------------------------------------------------------------------------------------
# The paper preset
# --------------------------------------------------------------------------------------------


def test_paper_preset_is_the_reference_configuration():
    resnet, mlp = bt.preset("paper", model="resnet"), bt.preset("paper", model="mlp")
    assert resnet.objective == bt.Objective(beta=200.0, sigma=5.0, normalisation="nocco",
                                            epsilon=1e-5)
    assert (resnet.batch_size, resnet.learning_rate, resnet.momentum, resnet.weight_decay,
            resnet.update) == (512, 0.01, 0.0, 1e-3, "sequential")
    assert dict(resnet.model_options)["batch_norm"] == "parameter-free"
    assert dict(resnet.model_options)["stem_padding"] == "valid"
    assert resnet.format == bt.FORMAT_PROTOCOLS["paper"]
    assert (resnet.format.optimizer, resnet.format.learning_rate, resnet.format.weight_decay,
            resnet.format.momentum, resnet.format.batch_size, resnet.format.epochs) == (
        "sgd", 0.01, 1e-3, 0.0, 512, 5)
    assert mlp.objective.beta == 50.0 and mlp.momentum == 0.0 and mlp.update == "sequential"
    assert dict(mlp.model_options)["widths"] == (128,) * 7
    # The network: 28×28 MNIST through the unpadded stem gives 12×12 maps, 9216 features.
    net = resnet.network(input_shape=(28, 28, 1))
    assert net.config_dict()["batch_norm"] == "parameter-free"
    params, _ = net.init(0)
    assert params[-1]["w"].shape == (9216, 512)
    assert "scale" not in params[0]["bn"]
    # The optimizer is the cached plain SGD, so equal settings share one compiled step.
    assert resnet.optimizer() is bt.paper_optimizer(0.01, momentum=0.0, weight_decay=1e-3)
    json.dumps(resnet.settings())


def test_paper_preset_reaches_the_step(spy, tmp_path):
    """train(preset="paper") runs the step with the preset's objective, plain SGD and the
    sequential update, on the preset's network (the unpadded stem's shapes)."""
    images = blobs(n=80, shape=(9, 9, 1))
    paper = bt.preset("paper")
    net = paper.network(input_shape=(9, 9, 1), n_blocks=1, channels=3, hidden=6)
    run = bt.train(net, images, preset="paper", batch_size=32, epochs=1, evaluate=False,
                   rng=0, run_dir=tmp_path)
    (call,) = spy
    assert call["objective"] == paper.objective
    assert call["update"] == "sequential"
    assert call["optimizer"] is bt.paper_optimizer(0.01, momentum=0.0, weight_decay=1e-3)
    outputs, _ = net.apply(run.params, run.state, images.x_train[:2], train=False)
    assert [z.shape for z in outputs] == [(2, 3, 3, 3), (2, 3, 3, 3), (2, 6)]  # (9 − 5)//2 + 1
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["preset"] == "paper" and config["beta"] == 200.0
    assert config["optimizer"] == {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0,
                                   "weight_decay": 1e-3}
    assert config["update"] == "sequential" and config["batch_size"] == 32  # overridden
    assert config["model"]["stem_padding"] == "valid"
    assert config["format"]["name"] == "paper"  # the preset's protocol, recorded


def test_paper_steps_are_plain_sgd_with_weight_decay():
    """Two steps of the paper preset's step equal the hand-computed sequential SGD update
    ``w ← w − η(∇loss + λw)`` with no momentum; this is also what a fresh SGD with momentum
    0.9 per batch gives (the official code's), and not what a persistent momentum gives.
    In float64, so that the comparison is tight."""
    with jax.enable_x64(True):
        _check_paper_steps()


def _check_paper_steps():
    paper = bt.preset("paper", model="mlp").replace(learning_rate=0.05)
    lr, wd = paper.learning_rate, paper.weight_decay
    net = bt.mlp([16, 8], input_shape=(12,), dtype="float64")
    step = bt.layerwise_step(net, objective=paper.objective, optimizer=paper.optimizer(),
                             update=paper.update)
    params0, state0 = net.init(0)
    batches = [(jnp.asarray(DATA.x_train[s:s + 64], jnp.float64),
                jax.nn.one_hot(DATA.y_train[s:s + 64], 4, dtype=jnp.float64)) for s in (0, 64)]
    state = step.init(params0, state0)
    for x, y in batches:
        state, _ = jax.jit(step.update)(state, x, y)

    params, model_state = list(params0), list(state0)
    for x, y in batches:
        Kx = bt.bottleneck_gram(x, sigma=5.0)
        Ky = bt.bottleneck_gram(y, sigma=5.0)
        h, new_state = x, []
        for i in range(net.n_blocks):
            def loss(p, i=i, h=h, s=model_state[i], Kx=Kx, Ky=Ky):
                z, _ = net.block(i, p, s, h, train=True)
                return bt.layer_loss(z, Kx, Ky, objective=paper.objective)[0]

            g = jax.grad(loss)(params[i])
            _, s = net.block(i, params[i], model_state[i], h, train=True)
            params[i] = jax.tree_util.tree_map(lambda w, g: w - lr * (g + wd * w), params[i], g)
            h, _ = net.block(i, params[i], model_state[i], h, train=True)
            new_state.append(s)
        model_state = new_state
    for got, want in zip(jax.tree_util.tree_leaves(state.params),
                         jax.tree_util.tree_leaves(params), strict=True):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)

    # The official code's fresh SGD(momentum=0.9) per batch: the same steps.
    fresh_opt = bt.paper_optimizer(lr, momentum=0.9, weight_decay=wd)
    fresh = bt.layerwise_step(net, objective=paper.objective, optimizer=fresh_opt,
                              update="sequential")
    kept = fresh.init(params0, state0)
    s = kept
    for x, y in batches:
        s = fresh.init(s.params, s.model_state)  # a new optimizer for every batch
        s, _ = jax.jit(fresh.update)(s, x, y)
        kept, _ = jax.jit(fresh.update)(kept, x, y)  # momentum kept across batches
    for got, want in zip(jax.tree_util.tree_leaves(s.params),
                         jax.tree_util.tree_leaves(params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert not np.allclose(kept.params[0]["w"], params[0]["w"], rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Overrides, names and records
# --------------------------------------------------------------------------------------------


def test_explicit_options_override_the_preset(spy, tmp_path):
    objective = bt.Objective(beta=7.0, sigma=2.0)
    bt.train(NET, DATA, preset="paper", objective=objective, batch_size=64, learning_rate=0.3,
             update="simultaneous", format="default", epochs=1, evaluate=False,
             run_dir=tmp_path)
    (call,) = spy
    assert call["objective"] == objective and call["update"] == "simultaneous"
    # The preset's momentum and weight decay, the explicit learning rate.
    assert call["optimizer"] is bt.paper_optimizer(0.3, momentum=0.0, weight_decay=1e-3)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["preset"], config["beta"], config["sigma"], config["batch_size"]) == (
        "paper", 7.0, 2.0, 64)
    assert config["optimizer"]["learning_rate"] == 0.3 and config["optimizer"]["momentum"] == 0
    assert config["format"]["name"] == "default" and config["eval_every"] == 1
    # A preset value: replace wins in the same way, and None leaves a setting as it is.
    mine = bt.preset("paper").replace(beta=1.0, batch_size=None, stem_padding="same",
                                      format="best")
    assert (mine.objective.beta, mine.batch_size, mine.format.name) == (1.0, 512, "best")
    assert dict(mine.model_options)["stem_padding"] == "same"
    assert mine.network(input_shape=(8, 8, 1), channels=2, hidden=3,
                        n_blocks=1).config_dict()["stem_padding"] == "same"
    # An explicit optimizer wins over the preset's SGD; it is recorded as custom.
    bt.train(NET, DATA, preset="paper", batch_size=64, optimizer=bt.paper_optimizer(0.02),
             epochs=1, evaluate=False, run_dir=tmp_path / "custom")
    assert spy[-1]["optimizer"] is bt.paper_optimizer(0.02)
    custom = json.loads((tmp_path / "custom" / "config.json").read_text())
    assert custom["optimizer"] == {"name": "custom"}


def test_no_preset_is_the_default_preset(spy, tmp_path):
    """Without a preset, train runs the "default" preset of its model (the settings it always
    had: β = 50 for an MLP, batch 256, SGD with momentum 0.9, simultaneous updates)."""
    bt.train(NET, DATA, epochs=1, evaluate=False, run_dir=tmp_path)
    (call,) = spy
    assert call["objective"] == bt.Objective() and call["update"] == "simultaneous"
    assert call["optimizer"] is bt.paper_optimizer(0.01, momentum=0.9, weight_decay=1e-3)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["preset"] == "default" and config["batch_size"] == 256
    assert config["format"] is None
    assert bt.preset("default", model="resnet").objective.beta == 500.0


def test_unknown_presets_and_bad_options():
    with pytest.raises(ValueError, match=r"`preset` must be one of 'default', 'paper'; got 'x'"):
        bt.preset("x")
    with pytest.raises(ValueError, match=r"`preset` must be one of 'default', 'paper'"):
        bt.train(NET, DATA, preset="fast")
    with pytest.raises(ValueError, match="`model` must be one of 'mlp', 'resnet'"):
        bt.preset("paper", model="cnn")
    with pytest.raises(ValueError, match=r"`preset` 'paper' is for a resnet; `model` is a mlp"):
        bt.train(NET, DATA, preset=bt.preset("paper", model="resnet"))
    with pytest.raises(ValueError, match="`stem_padding` is not a setting of a mlp preset"):
        bt.preset("paper", model="mlp").replace(stem_padding="valid")
    with pytest.raises(ValueError, match="`momentum` must be a non-negative number"):
        bt.preset("paper").replace(momentum=-1.0)
    with pytest.raises(ValueError, match="`batch_norm` must be one of"):
        bt.preset("paper").network(batch_norm="frozen")
    with pytest.raises(ValueError, match="`format` must be a FormatProtocol or one of"):
        bt.train(NET, DATA, format="fast")
    with pytest.raises(ValueError, match="`eval_every` must be a positive integer; got 0"):
        bt.train(NET, DATA, eval_every=0)
    with pytest.raises(ValueError, match="`epochs` must be a positive integer; got 0"):
        bt.FormatProtocol(epochs=0)
    with pytest.raises(ValueError, match="`optimizer` must be one of 'sgd', 'adam'"):
        bt.FormatProtocol(optimizer="lbfgs")
    with pytest.raises(ValueError, match="`model` must be a hsic.bottleneck.Network"):
        bt.train("mlp", DATA)


# --------------------------------------------------------------------------------------------
# Evaluation and the format stage
# --------------------------------------------------------------------------------------------


def test_eval_every_and_format_json(tmp_path):
    """Accuracies every eval_every epochs and after the last; the format layer by the run's
    protocol on every training image; format.json after the last epoch."""
    run = bt.train(NET, DATA, epochs=5, eval_every=2, batch_size=64, learning_rate=0.05,
                   format="paper", run_dir=tmp_path, rng=1)
    evaluated = [r["epoch"] for r in run.history if r["test_acc"] is not None]
    assert evaluated == [2, 4, 5]
    assert [r["epoch"] for r in run.history if r["train_acc_unformatted"] is not None] == [2, 4, 5]
    record = json.loads((tmp_path / "format.json").read_text())
    assert record["epoch"] == 5 and record["protocol"] == bt.FORMAT_PROTOCOLS["paper"].settings()
    assert record["train_images"] == len(DATA.x_train)
    assert len(record["test_acc_per_format_epoch"]) == 5
    assert record["test_acc"] == run.history[-1]["test_acc"] > 0.8  # chance: 0.25
    logged = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["test_acc"] is None for r in logged] == [True, False, True, False, False]


def test_fit_format_uses_every_training_image(monkeypatch):
    """Each format epoch covers all n samples, an incomplete last batch included."""
    rows = []
    real = _evaluate._format_epoch

    def counting(optimizer, head, opt_state, feats, labels, order, batch_size):
        rows.append(feats.shape[0] // batch_size * batch_size)
        return real(optimizer, head, opt_state, feats, labels, order, batch_size)

    monkeypatch.setattr(_evaluate, "_format_epoch", counting)
    protocol = bt.FormatProtocol("odd", optimizer="sgd", learning_rate=0.1, batch_size=100,
                                 epochs=3)
    params, state = NET.init(0)
    result = bt.fit_format(NET, params, state, DATA, protocol=protocol, rng=0)
    assert sum(rows) == 3 * len(DATA.x_train) == 3 * 256  # 2 batches of 100 and one of 56
    assert result.record["protocol"]["name"] == "odd"
    assert len(result.record["test_acc_per_format_epoch"]) == 3
    # Precomputed features give the same fit, and must be the data's.
    feats = (bt.features(NET, params, state, DATA.x_train),
             bt.features(NET, params, state, DATA.x_test))
    again = bt.fit_format(NET, params, state, DATA, protocol=protocol, rng=0, precomputed=feats)
    np.testing.assert_array_equal(again.layer.w, result.layer.w)
    assert again.record == result.record
    with pytest.raises(ValueError, match="`precomputed` must be the"):
        bt.fit_format(NET, params, state, DATA, protocol=protocol, precomputed=(feats[0], None))
    # The protocols' optimizers: equal settings give one object (one compilation).
    assert protocol.transformation(256) is protocol.transformation(256)
    best = bt.FORMAT_PROTOCOLS["best"]
    assert best.transformation(256) is not best.transformation(512)  # the cosine's length


# --------------------------------------------------------------------------------------------
# Saturation diagnostics
# --------------------------------------------------------------------------------------------


def test_saturation_ratios_in_the_log_and_the_step():
    run = bt.train(NET, DATA, epochs=1, batch_size=64, evaluate=False, rng=0)
    record = run.history[0]
    for key in ("saturation_zx", "saturation_zy"):
        assert len(record[key]) == NET.n_blocks
        assert all(0.0 <= v <= 1.0 for v in record[key])
    step = bt.layerwise_step(NET, update="sequential")
    state = step.init(*NET.init(0))
    _, metrics = step.update(state, DATA.x_train[:64], jax.nn.one_hot(DATA.y_train[:64], 4))
    assert metrics.saturation_zx.shape == metrics.saturation_zy.shape == (NET.n_blocks,)
    assert np.all((np.asarray(metrics.saturation_zx) >= 0) & (metrics.saturation_zx <= 1))


def test_saturated_blocks_warn_once():
    """A kernel far narrower than the outputs' spread (σ = 1e-3) makes every Gram matrix the
    identity: both NOCCO ratios are 1/(1 + εm) ≈ 0.9994 in every batch, and train warns
    once, not once per epoch."""
    objective = bt.Objective(sigma=1e-3)
    with pytest.warns(RuntimeWarning, match=r"stayed above 0.99 of both ceilings") as caught:
        run = bt.train(NET, DATA, objective=objective, epochs=2, batch_size=64, evaluate=False,
                       rng=0)  # a fixed batch order: with another, ReLU ties can unsaturate block 1
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert "epoch 1" in str(caught[0].message)
    assert min(run.history[0]["saturation_zx"]) > 0.99
    # The default objective does not saturate these blocks: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bt.train(NET, DATA, epochs=1, batch_size=64, evaluate=False, rng=0)


def test_the_format_stage_does_not_change_the_weights():
    """The same preset with and without its format stage trains the same weights."""
    images = blobs(n=80)
    a = bt.train(NET, images, preset="paper", batch_size=32, epochs=1, evaluate=False, rng=4)
    assert a.history[0]["test_acc"] is not None  # the preset's format stage ran
    b = bt.train(NET, images, preset=dataclasses.replace(bt.preset("paper", model="mlp"),
                                                         format=None),
                 batch_size=32, epochs=1, evaluate=False, rng=4)
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params),
                    strict=True):
        np.testing.assert_array_equal(x, y)


def test_backprop_baseline_resumes_epoch_by_epoch(tmp_path):
    """The backprop baseline, one epoch per invocation from its checkpoints, ends with the
    weights of an uninterrupted run; its run directory records its settings."""
    settings = dict(epochs=2, batch_size=64, learning_rate=0.05, rng=3)
    full = bt.train_backprop(NET, DATA, **settings)
    bt.train_backprop(NET, DATA, **{**settings, "epochs": 1}, run_dir=tmp_path)
    resumed = bt.train_backprop(NET, DATA, **settings, run_dir=tmp_path, resume=True)
    for a, b in zip(jax.tree_util.tree_leaves(full[:2]), jax.tree_util.tree_leaves(resumed[:2]),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full[2].w, resumed[2].w)
    assert len(resumed[3]["epoch_times"]) == 2 and resumed[3]["test_acc"] == full[3]["test_acc"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["method"] == "backprop" and config["optimizer"]["momentum"] == 0.9
    with pytest.raises(ValueError, match="Cannot resume: the checkpoint"):
        bt.train_backprop(NET, DATA, **{**settings, "batch_size": 32}, run_dir=tmp_path,
                          resume=True)
