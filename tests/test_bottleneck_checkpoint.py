"""Checkpoints (npz + json, atomic, never pickle) and JSON-lines metrics logs."""

import hashlib
import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hsic._base.io import DataFileError
from hsic.bottleneck import _checkpoint
from hsic.bottleneck._checkpoint import (
    append_jsonl,
    latest_checkpoint,
    load_checkpoint,
    read_jsonl,
    save_checkpoint,
)


class BNState(NamedTuple):
    mean: np.ndarray
    var: np.ndarray


def make_state(seed: int):
    """A state like the trainer's: params, BatchNorm stats, optax states, RNGs, counters."""
    rng = np.random.default_rng(seed)
    params = [
        {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32), "b": jnp.zeros(3)},
        {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "b": jnp.ones(2)},
    ]
    rng.normal(size=3)  # move the generator's state along
    # an adamw state with non-zero moments and count (cheaper to build than a jitted update)
    adam_state = optax.adamw(1e-3).init(params)
    adam_state = jax.tree_util.tree_map(lambda x: np.asarray(x) + seed + 1, adam_state)
    return {
        "params": params,
        "bn": [BNState(np.full(3, seed, np.float32), np.ones(3, np.float32)), None],
        "opt": {"adam": adam_state, "sgd": optax.sgd(0.1, momentum=0.9).init(params)},
        "numpy_rng": rng.bit_generator.state,
        "key": jax.random.key(seed),
        "raw_key": jax.random.PRNGKey(seed),
        "half": jnp.asarray(np.arange(3) / (seed + 1), jnp.bfloat16),  # stored as bits
        "step": 100 + seed,
        "lr": 0.5 * seed,
        "done": bool(seed % 2),
        "tag": f"run{seed}",
        "scalars": (np.int64(seed), np.float32(seed / 4)),
    }


def assert_trees_equal(a, b):
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if isinstance(x, (str, int, float, bool)):
            assert x == y
        else:
            assert np.asarray(x).dtype == np.asarray(y).dtype
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_nested_state(tmp_path):
    state = make_state(3)
    save_checkpoint(tmp_path / "ckpt", state, {"epoch": 2})
    restored, meta = load_checkpoint(tmp_path / "ckpt", like=make_state(0))  # other values
    assert meta == {"epoch": 2}
    assert_trees_equal(restored, state)
    assert isinstance(restored["params"][0]["w"], jax.Array)
    assert isinstance(restored["bn"][0].mean, np.ndarray)
    assert type(restored["step"]) is int and type(restored["scalars"][1]) is np.float32
    # the NumPy generator continues exactly where the saved one was
    rng = np.random.default_rng()
    rng.bit_generator.state = restored["numpy_rng"]
    expected = np.random.default_rng(3)
    for size in ((4, 3), (3, 2), 3):  # the draws make_state made
        expected.normal(size=size)
    np.testing.assert_array_equal(rng.normal(size=5), expected.normal(size=5))


def test_files_on_disk(tmp_path):
    """The .npz holds the leaves under their key paths; the .json describes them, no pickle."""
    state = make_state(1)
    save_checkpoint(tmp_path / "c.npz", state, {"note": "x"})  # the suffix is dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.npz"]
    record = json.loads((tmp_path / "c.json").read_text())
    npz_bytes = (tmp_path / "c.npz").read_bytes()
    assert record["npz_sha256"] == hashlib.sha256(npz_bytes).hexdigest()
    assert record["metadata"] == {"note": "x"}
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    keys = [jax.tree_util.keystr(path) for path, _ in flat]
    assert [e["key"] for e in record["leaves"]] == keys
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(keys)
        np.testing.assert_array_equal(npz["['params'][1]['w']"], state["params"][1]["w"])
        assert npz["['step']"] == 101
        # PCG64's 128-bit state is kept exactly, as text
        assert (
            int(str(npz["['numpy_rng']['state']['state']"]))
            == (state["numpy_rng"]["state"]["state"])
        )
    entry = record["leaves"][keys.index("['params'][0]['w']")]
    assert entry == {"key": "['params'][0]['w']", "kind": "jax", "shape": [4, 3],
                     "dtype": "float32"}  # fmt: skip


def test_metadata_is_converted_to_json(tmp_path):
    meta = {"epoch": np.int64(3), "acc": np.float32(0.5), "hist": jnp.arange(3), "t": (1, 2)}
    save_checkpoint(tmp_path / "c", {"x": np.zeros(2)}, meta)
    _, loaded = load_checkpoint(tmp_path / "c", like={"x": np.zeros(2)})
    assert loaded == {"epoch": 3, "acc": 0.5, "hist": [0, 1, 2], "t": [1, 2]}
    with pytest.raises(ValueError, match=r"`metadata` must be a dict; got list"):
        save_checkpoint(tmp_path / "d", {}, [1])
    with pytest.raises(ValueError, match=r"`metadata`\['f'\] must be a number.*got builtin"):
        save_checkpoint(tmp_path / "d", {}, {"f": print})
    with pytest.raises(ValueError, match=r"`metadata` must have string keys.*got key \(1, 2\)"):
        save_checkpoint(tmp_path / "d", {}, {(1, 2): 0})
    assert not list(tmp_path.glob("d*"))


def test_resume_continues_identically(tmp_path):
    """Optimizer state survives the round trip: 3 more steps from the checkpoint are identical."""
    opt = optax.sgd(0.05, momentum=0.9)
    loss = lambda p: jnp.sum((p["w"] - 1.0) ** 2) + jnp.sum(p["b"] ** 2)  # noqa: E731

    @jax.jit
    def step(params, opt_state):
        updates, opt_state = opt.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    state = (params, opt.init(params))
    for _ in range(4):
        state = step(*state)
    save_checkpoint(tmp_path / "mid", {"params": state[0], "opt": state[1]}, {"step": 4})
    fresh = (jax.tree_util.tree_map(jnp.zeros_like, params), opt.init(params))
    like = {"params": fresh[0], "opt": fresh[1]}
    loaded, _ = load_checkpoint(tmp_path / "mid", like=like)
    resumed = (loaded["params"], loaded["opt"])
    for _ in range(3):
        state, resumed = step(*state), step(*resumed)
    assert_trees_equal(resumed, state)


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ckpt", {"w": np.ones(3)}, {"step": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(_checkpoint.np, "savez", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(tmp_path / "ckpt", {"w": np.zeros(3)}, {"step": 2})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files
    tree, meta = load_checkpoint(tmp_path / "ckpt", like={"w": np.zeros(3)})
    assert meta == {"step": 1} and tree["w"].tolist() == [1.0, 1.0, 1.0]


def test_failed_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ckpt", {"w": np.ones(3)}, {"step": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(src, dst):
        raise OSError("crash at rename")

    monkeypatch.setattr(_checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="crash at rename"):
        save_checkpoint(tmp_path / "ckpt", {"w": np.zeros(3)}, {"step": 2})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_crash_between_renames_is_detected(tmp_path, monkeypatch):
    """New .npz, old .json: refused on load, skipped by latest_checkpoint."""
    save_checkpoint(tmp_path / "a", {"w": np.ones(3)}, {"step": 1})
    save_checkpoint(tmp_path / "b", {"w": np.ones(3)}, {"step": 2})
    calls = []
    real_replace = os.replace

    def die_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed
        real_replace(src, dst)

    monkeypatch.setattr(_checkpoint.os, "replace", die_second)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "b", {"w": np.full(3, 7.0)}, {"step": 3})
    monkeypatch.undo()
    with pytest.raises(
        DataFileError, match=r"b.npz: does not match the SHA-256 recorded in b.json"
    ):
        load_checkpoint(tmp_path / "b", like={"w": np.zeros(3)})
    assert latest_checkpoint(tmp_path) == str(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npz", "b.json", "b.npz"]


@pytest.mark.parametrize(
    "like, match",
    [
        ({"w": np.zeros((3, 2), np.float32), "n": 1}, r"leaf \['w'\] has shape \(2, 3\) and "
         r"dtype float32; `like` expects shape \(3, 2\) and dtype float32"),
        ({"w": np.zeros((2, 3), np.float64), "n": 1}, r"leaf \['w'\].*expects shape \(2, 3\) "
         r"and dtype float64"),
        ({"w": jnp.zeros((2, 3), jnp.int32), "n": 1}, r"leaf \['w'\].*dtype int32"),
        ({"w": np.zeros((2, 3), np.float32), "n": 1.0}, r"leaf \['n'\] has shape \(\) and "
         r"dtype int64; `like` expects a Python float"),
        ({"w": np.zeros((2, 3), np.float32), "n": 1, "m": 2}, r"leaf \['m'\] is missing"),
        ({"w": np.zeros((2, 3), np.float32)}, r"leaf \['n'\] in .* is not in `like`"),
        ([np.zeros((2, 3), np.float32), 1], r"leaf \[0\] is missing"),
        ({"w": jnp.zeros((2, 3), jnp.bfloat16), "n": 1}, r"leaf \['w'\].*dtype bfloat16"),
    ],
)  # fmt: skip
def test_mismatch_names_the_leaf(tmp_path, like, match):
    save_checkpoint(tmp_path / "c", {"w": np.ones((2, 3), np.float32), "n": 5}, {})
    with pytest.raises(ValueError, match=match):
        load_checkpoint(tmp_path / "c", like=like)


def test_bfloat16_bits_are_not_taken_for_uint16(tmp_path):
    save_checkpoint(tmp_path / "c", {"w": jnp.ones(3, jnp.bfloat16)}, {})
    with pytest.raises(ValueError, match=r"leaf \['w'\] has shape \(3,\) and dtype bfloat16; "):
        load_checkpoint(tmp_path / "c", like={"w": np.zeros(3, np.uint16)})
    save_checkpoint(tmp_path / "d", {"w": np.full(3, 16256, np.uint16)}, {})
    with pytest.raises(ValueError, match=r"dtype uint16; `like` expects .* dtype bfloat16"):
        load_checkpoint(tmp_path / "d", like={"w": jnp.ones(3, jnp.bfloat16)})


def test_pickled_object_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"leaf \['o'\] has dtype object; checkpoints hold"):
        save_checkpoint(tmp_path / "c", {"o": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match=r"leaf \['s'\] has type set"):
        save_checkpoint(tmp_path / "c", {"s": {1, 2}}, {})
    assert not list(tmp_path.iterdir())
    # a tampered .npz holding a pickled object array, with a matching digest, is not unpickled
    save_checkpoint(tmp_path / "c", {"o": np.zeros(1)}, {})
    with open(tmp_path / "c.npz", "wb") as f:
        np.savez(f, **{"['o']": np.array([{"a": 1}], dtype=object)})  # pickles the dict
    record = json.loads((tmp_path / "c.json").read_text())
    record["npz_sha256"] = hashlib.sha256((tmp_path / "c.npz").read_bytes()).hexdigest()
    (tmp_path / "c.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"leaf \['o'\] in .*c.npz cannot be read without pickle"):
        load_checkpoint(tmp_path / "c", like={"o": np.zeros(1)})


def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(DataFileError, match=r"nope.json: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope", like={})
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(DataFileError, match=r"x.json: not a checkpoint written by save_checkpoint"):
        load_checkpoint(tmp_path / "x", like={})
    save_checkpoint(tmp_path / "y", {"a": 1}, {})
    (tmp_path / "y.npz").unlink()
    with pytest.raises(DataFileError, match=r"y.npz: missing; y.json refers to it"):
        load_checkpoint(tmp_path / "y", like={"a": 1})


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "config.json").write_text("{}")  # unrelated files are ignored
    append_jsonl(tmp_path / "metrics.jsonl", {"epoch": 1})
    for name, step in (("z_first", 1), ("a_second", 2), ("m_third", 3)):
        save_checkpoint(tmp_path / name, {"w": np.full(2, step)}, {"step": step})
    assert latest_checkpoint(tmp_path) == str(tmp_path / "m_third")  # by save time, not name
    npz = tmp_path / "m_third.npz"
    npz.write_bytes(npz.read_bytes()[:-10])  # damaged: skipped
    latest = latest_checkpoint(tmp_path)
    assert latest == str(tmp_path / "a_second")
    tree, meta = load_checkpoint(latest, like={"w": np.zeros(2, np.int64)})
    assert meta["step"] == 2 and tree["w"].tolist() == [2, 2]


# --- metrics logs -----------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [
        {"epoch": np.int32(1), "loss": jnp.array([0.5, -1.25]), "test_acc": None,
         "nhsic_zx": [np.float32(0.25), np.float64(0.125)], "wall_time": 1.5},
        {"epoch": 2, "loss": [float("nan"), float("inf")], "info": {"beta": np.float16(2)}},
    ]  # fmt: skip
    for record in records:
        append_jsonl(path, record)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and path.read_text().endswith("\n")
    assert json.loads(lines[0]) == {
        "epoch": 1, "loss": [0.5, -1.25], "test_acc": None, "nhsic_zx": [0.25, 0.125],
        "wall_time": 1.5,
    }  # fmt: skip
    assert read_jsonl(path) == [json.loads(line) for line in lines]
    assert read_jsonl(path)[1] == {"epoch": 2, "loss": [None, None], "info": {"beta": 2.0}}
    assert type(read_jsonl(path)[0]["epoch"]) is int


def test_jsonl_errors(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2, "loss": [0.1,\n')
    with pytest.raises(DataFileError, match=r"m.jsonl, line 2: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"epoch": 1}\n\n[1, 2]\n')
    with pytest.raises(DataFileError, match=r"m.jsonl, line 3: expected a JSON object; got list"):
        read_jsonl(path)
    with pytest.raises(DataFileError, match=r"none.jsonl: no such file"):
        read_jsonl(tmp_path / "none.jsonl")
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(DataFileError, match=r"not a UTF-8 text file"):
        read_jsonl(path)
    with pytest.raises(ValueError, match=r"`record` must be a dict; got list"):
        append_jsonl(path, [1])
    with pytest.raises(ValueError, match=r"`record`\['x'\] must be a number.*got object"):
        append_jsonl(tmp_path / "new.jsonl", {"x": object()})
    with pytest.raises(ValueError, match=r"`record`\['s'\] must hold numbers.*dtype <U1"):
        append_jsonl(tmp_path / "new.jsonl", {"s": np.array(["a"])})
    assert not (tmp_path / "new.jsonl").exists()  # nothing half-written


# --- retention: train(keep_last=...) ------------------------------------------------------------


def tiny_run():
    """A 2-class problem small enough for a few one-step epochs."""
    from hsic import bottleneck as bt

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64).astype(np.int32)
    x = (rng.normal(size=(64, 3)) + 2.0 * y[:, None]).astype(np.float32)
    data = bt.Dataset(x, y, None, None, 2, "toy")
    settings = dict(epochs=3, batch_size=64, evaluate=False, rng=1, learning_rate=0.05)
    return bt, bt.mlp([4], input_shape=(3,)), data, settings


def test_keep_last_keeps_the_latest_checkpoints_and_the_weights(tmp_path):
    """keep_last=2: the two latest epochs' checkpoints (and optimizer states) stay, the run's
    weights are those of a run that keeps every checkpoint, and it resumes from the latest."""
    bt, net, data, settings = tiny_run()
    kept = bt.train(net, data, run_dir=tmp_path / "kept", keep_last=2, **settings)
    every = bt.train(net, data, run_dir=tmp_path / "all", **settings)
    assert_trees_equal(kept.params, every.params)
    names = lambda d: sorted(p.name for p in d.glob("epoch_*"))  # noqa: E731
    assert names(tmp_path / "all") == [f"epoch_000{e}.{s}" for e in (1, 2, 3)
                                       for s in ("json", "npz")]
    expected = [f"epoch_000{e}.{s}" for e in (2, 3) for s in ("json", "npz")]
    assert names(tmp_path / "kept") == expected == names(tmp_path / "kept" / "optimizer")
    assert json.loads((tmp_path / "kept" / "config.json").read_text())["keep_last"] == 2
    resumed = bt.train(net, data, run_dir=tmp_path / "kept", resume=True, keep_last=2,
                       **{**settings, "epochs": 4})
    full = bt.train(net, data, **{**settings, "epochs": 4})
    assert_trees_equal(resumed.params, full.params)
    assert names(tmp_path / "kept")[0] == "epoch_0003.json"


def test_keep_last_deletes_only_after_the_new_checkpoint_is_written(tmp_path, monkeypatch):
    """A crash while saving epoch 2's checkpoint leaves epoch 1's, the latest complete one."""
    from hsic.bottleneck import _train

    bt, net, data, settings = tiny_run()
    real = _train.save_checkpoint

    def crash_at_epoch_2(path, tree, meta):
        if meta["epoch"] == 2 and "optimizer" not in str(path):
            raise OSError("disk full")
        real(path, tree, meta)

    monkeypatch.setattr(_train, "save_checkpoint", crash_at_epoch_2)
    with pytest.raises(OSError, match="disk full"):
        bt.train(net, data, run_dir=tmp_path, keep_last=1, **settings)
    assert os.path.basename(latest_checkpoint(tmp_path)) == "epoch_0001"


def test_prune_checkpoints(tmp_path):
    """The keep_last - 1 latest earlier epochs stay; each goes .json (the commit record) first,
    orphaned .npz files of older epochs go too, and later epochs (another run's) stay."""
    from hsic.bottleneck import _train

    (tmp_path / "optimizer").mkdir()
    for epoch in (1, 2, 3, 4, 9):
        for folder in (tmp_path, tmp_path / "optimizer"):
            save_checkpoint(folder / f"epoch_{epoch:04d}", {"w": np.ones(2)}, {"epoch": epoch})
    (tmp_path / "epoch_0000.npz").write_bytes(b"orphan")  # a crash between the deletions
    (tmp_path / "notes.json").write_text("{}")
    removed = []
    real = os.remove

    def record(path):
        removed.append(os.path.basename(path))
        real(path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_train.os, "remove", record)
        _train.prune_checkpoints(str(tmp_path), 2, 4)
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert left == ["epoch_0003.json", "epoch_0003.npz", "epoch_0004.json", "epoch_0004.npz",
                    "epoch_0009.json", "epoch_0009.npz", "notes.json"]
    assert sorted(p.name for p in (tmp_path / "optimizer").iterdir())[0] == "epoch_0003.json"
    assert removed.index("epoch_0002.json") < removed.index("epoch_0002.npz")


@pytest.mark.parametrize("keep_last", [0, -1, 1.5, True])
def test_keep_last_must_be_a_positive_int(tmp_path, keep_last):
    bt, net, data, settings = tiny_run()
    for trainer in (bt.train, bt.train_backprop):
        with pytest.raises(ValueError, match="`keep_last` must be a positive integer"):
            trainer(net, data, run_dir=tmp_path, keep_last=keep_last, epochs=1)
