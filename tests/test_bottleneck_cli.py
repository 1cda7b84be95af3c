"""``hsic bottleneck train|format|plot`` on a tiny synthetic IDX dataset directory."""

import json
import struct
import sys

import jax
import numpy as np
import pytest

from hsic import bottleneck as bt
from hsic.bottleneck._checkpoint import read_jsonl
from hsic.cli import main


def write_idx(path, array):
    """An IDX file: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    """4 classes of 8×8 images: class c lights up row block c, plus noise."""
    root = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for split, n in (("train", 384), ("t10k", 128)):
        labels = rng.integers(0, 4, n)
        images = rng.integers(0, 60, size=(n, 8, 8))
        for i, c in enumerate(labels):
            images[i, 2 * c:2 * c + 2, :] += 180
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return root


def test_train_format_plot(idx_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["bottleneck", "train", "--dataset", str(idx_dir), "--widths", "16", "8",
            "--epochs", "2", "--batch-size", "64", "--beta", "100", "--lr", "0.05",
            "--out", str(run)]
    assert main(args) == 0
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2] and len(records[0]["nhsic_zy"]) == 2
    assert (run / "epoch_0002.npz").exists() and (run / "epoch_0002.json").exists()
    assert "Next: hsic bottleneck format" in capsys.readouterr().out

    assert main(["bottleneck", "format", str(run), "--epochs", "30"]) == 0
    result = json.loads((run / "format.json").read_text())
    assert result["test_acc"] > 0.8  # chance: 0.25

    assert main(["bottleneck", "plot", str(run)]) == 0
    assert {"hsic_plane.png", "accuracy.png"} <= {p.name for p in run.iterdir()}

    # --resume to 3 epochs continues the log.
    resume = [*args, "--resume"]
    resume[resume.index("--epochs") + 1] = "3"
    assert main(resume) == 0
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]


def test_paper_preset_with_overrides(idx_dir, tmp_path, capsys):
    """--preset paper: the official code's settings; the options given win; config.json
    records what ran; the preset's format protocol runs and writes format.json."""
    run = tmp_path / "paper"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--preset", "paper",
                 "--widths", "16", "8", "--epochs", "2", "--batch-size", "64", "--lr", "0.05",
                 "--eval-every", "2", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "paper" and config["beta"] == 50.0  # the MLP's reference β
    assert config["update"] == "sequential" and config["batch_size"] == 64
    assert config["optimizer"] == {"name": "sgd", "learning_rate": 0.05, "momentum": 0.0,
                                   "weight_decay": 1e-3}
    assert config["model"]["widths"] == [16, 8]
    assert config["model"]["batch_norm"] == "parameter-free"
    assert config["format"]["name"] == "paper-mlp" and config["eval_every"] == 2
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["test_acc"] is None for r in records] == [True, False]
    assert all(0 <= v <= 1 for v in records[-1]["saturation_zy"])
    assert json.loads((run / "format.json").read_text())["protocol"]["name"] == "paper-mlp"
    assert "(paper preset)" in capsys.readouterr().out

    # The format command refits by a named protocol, on every training image.
    assert main(["bottleneck", "format", str(run), "--protocol", "paper"]) == 0
    record = json.loads((run / "format.json").read_text())
    assert record["protocol"] == {"name": "paper", "optimizer": "sgd", "learning_rate": 0.01,
                                  "schedule": "constant", "momentum": 0.0,
                                  "weight_decay": 1e-3, "batch_size": 512, "epochs": 5}
    assert record["train_images"] == 384 and len(record["test_acc_per_format_epoch"]) == 5


def test_paper_preset_resnet(idx_dir, tmp_path):
    """The paper preset's resnet: the unpadded stem (8×8 → 2×2 maps) and learnable BatchNorm
    on request."""
    run = tmp_path / "resnet"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--model", "resnet",
                 "--preset", "paper", "--blocks", "1", "--epochs", "1", "--batch-size", "64",
                 "--batch-norm", "learnable", "--format-protocol", "none",
                 "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["stem_padding"] == "valid" and config["beta"] == 200.0
    assert config["model"]["batch_norm"] == "learnable" and config["format"] is None
    model, params, _, _ = bt.load_run(run)
    assert params[-1]["w"].shape == (2 * 2 * 64, 512) and "scale" in params[0]["bn"]
    assert not (run / "format.json").exists()


def test_backprop_baseline(idx_dir, tmp_path):
    out = tmp_path / "bp"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--widths", "16",
                 "--epochs", "2", "--batch-size", "64", "--lr", "0.05", "--backprop",
                 "--out", str(out)]) == 0
    assert json.loads((out / "backprop.json").read_text())["test_acc"] > 0.8


def test_sigma_combined(idx_dir, tmp_path):
    out = tmp_path / "sc"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--widths", "16",
                 "--epochs", "1", "--batch-size", "64", "--beta", "100", "--lr", "0.05",
                 "--sigma-combined", "1", "5", "--format-epochs", "30", "--out", str(out)]) == 0
    result = json.loads((out / "sigma_combined.json").read_text())
    assert result["sigmas"] == [1.0, 5.0] and result["test_acc"] > 0.8
    assert (out / "sigma_1" / "metrics.jsonl").exists() and (out / "sigma_5").is_dir()


def test_user_errors(idx_dir, tmp_path, capsys):
    assert main(["bottleneck", "train", "--dataset", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "hsic: error:" in capsys.readouterr().err
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--batch-size", "0",
                 "--out", str(tmp_path / "r")]) == 2
    assert "must be a positive integer" in capsys.readouterr().err
    assert main(["bottleneck", "format", str(tmp_path)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--preset", "fast",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err  # the choices are listed (quoted from Python 3.12.8 on)
    assert "invalid choice: 'fast'" in err and "default" in err and "paper" in err
    # The paper MLP's batch of 512 does not fit 384 training images: a clear error.
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), "--preset", "paper",
                 "--out", str(tmp_path / "r")]) == 2
    assert "`batch_size` must be at most the number of training samples" in (
        capsys.readouterr().err)


TINY = ["--widths", "8", "--batch-size", "64", "--beta", "100", "--lr", "0.05"]


def test_non_empty_out_is_refused_and_overwrite_clears_the_run(idx_dir, tmp_path, capsys):
    """A non-empty --out needs --resume or --overwrite; --overwrite deletes only the files an
    earlier run wrote (the stale format.json and figures included) and says what it kept."""
    run = tmp_path / "run"
    args = ["bottleneck", "train", "--dataset", str(idx_dir), *TINY, "--epochs", "1",
            "--out", str(run)]
    # A start that fails before training leaves dataset.json: the corrected command runs.
    for _ in range(2):
        assert main([*args, "--batch-size", "1000"]) == 2
        assert "`batch_size` must be at most" in capsys.readouterr().err
    assert [p.name for p in run.iterdir()] == ["dataset.json"]
    (run / "optimizer").mkdir()
    (run / "mine").mkdir()
    stale = ["config.json", "metrics.jsonl", "epoch_0007.npz", "epoch_0007.json",
             "format.json", "format_paper.json", "hsic_plane.png", "accuracy.png",
             "optimizer/epoch_0007.npz", "optimizer/epoch_0007.json",
             ".epoch_0008.npz.0123456789ab.tmp"]
    for name in [*stale, "notes.txt", "mine/keep.png", "optimizer/other.txt"]:
        (run / name).write_text("old")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"`--out` '{run}' is not empty" in err and "--resume" in err and "--overwrite" in err
    assert all((run / name).read_text() == "old" for name in stale)  # nothing touched

    assert main([*args, "--overwrite"]) == 0
    captured = capsys.readouterr()
    assert "deleted 12 files" in captured.err and "kept 3 entries" in captured.err
    assert "mine, notes.txt, optimizer/other.txt" in captured.err
    left = {str(p.relative_to(run)) for p in run.rglob("*")}
    assert {"notes.txt", "mine/keep.png", "optimizer/other.txt"} <= left
    assert not {"epoch_0007.npz", "format.json", "format_paper.json", "hsic_plane.png",
                "optimizer/epoch_0007.npz", ".epoch_0008.npz.0123456789ab.tmp"} & left
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1]
    assert "epoch_0001.npz" in left and "optimizer/epoch_0001.npz" in left

    (tmp_path / "file").write_text("")
    assert main([*args[:-1], str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_resume_takes_the_settings_of_config_json(idx_dir, tmp_path, capsys, monkeypatch):
    """--resume needs no retyping and continues exactly; an option given must agree with the
    run; --epochs extends it; the final line reports the epochs held; with stderr not a
    terminal, one line per epoch is logged (a bar otherwise)."""
    full, part = tmp_path / "full", tmp_path / "part"
    settings = ["--dataset", str(idx_dir), *TINY, "--seed", "3", "--update", "sequential"]
    assert main(["bottleneck", "train", *settings, "--epochs", "2", "--out", str(full)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith(f"{full} holds 2 epochs of mlp (default preset)")
    lines = [line for line in err.splitlines() if line.startswith("hsic bottleneck: epoch")]
    assert [line.split(",")[0] for line in lines] == ["hsic bottleneck: epoch 1/2",
                                                      "hsic bottleneck: epoch 2/2"]
    assert " s: loss per block [" in lines[0] and "unformatted test acc" in lines[0]

    assert main(["bottleneck", "train", *settings, "--epochs", "1", "--out", str(part)]) == 0
    capsys.readouterr()
    assert main(["bottleneck", "train", "--out", str(part), "--resume", "--epochs", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{part} holds 2 epochs")
    config = json.loads((part / "config.json").read_text())
    assert config == {**json.loads((full / "config.json").read_text())}
    assert config["batch_size"] == 64 and config["update"] == "sequential" and config["rng"] == 3
    _, resumed, _, _ = bt.load_run(part)
    _, uninterrupted, _, _ = bt.load_run(full)
    for a, b in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(uninterrupted),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # Options given must agree with the run; --epochs cannot go back.
    for given, message in (
        (["--beta", "50"], "`--beta`: the run in '{}' was trained with --beta 100, but 50 was"),
        (["--widths", "8", "4"], "`--widths`: the run in '{}' was trained with --widths 8, but "
                                 "8 4 was given"),
        (["--dataset", "mnist"], "`--dataset`"),
        (["--backprop"], "`--backprop`: the run in '{}' is a hsic run"),
        (["--epochs", "1"], "`--epochs` must be at least the 2 epochs"),
    ):
        assert main(["bottleneck", "train", "--out", str(part), "--resume", *given]) == 2
        assert message.format(part) in capsys.readouterr().err
    # Agreeing options, and nothing left to do: the run is unchanged.
    assert main(["bottleneck", "train", "--out", str(part), "--resume", "--beta", "100",
                 "--widths", "8"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{part} holds 2 epochs")

    # On a terminal: the progress bar, and no per-epoch lines.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["bottleneck", "train", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    assert "hsic bottleneck: epoch" not in capsys.readouterr().err


def test_backprop_run_dir(idx_dir, tmp_path, capsys):
    """A backprop run resumes with its own settings, keeps the last K checkpoints, and
    'format' and 'plot' say what it is instead of failing on it."""
    out = tmp_path / "bp"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), *TINY, "--momentum", "0",
                 "--epochs", "1", "--backprop", "--keep-last", "1", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "backprop" and config["keep_last"] == 1
    assert config["optimizer"] == {"name": "sgd", "learning_rate": 0.05, "momentum": 0.0,
                                   "weight_decay": 1e-3}
    assert "backprop: epoch 1/1, " in capsys.readouterr().err
    assert main(["bottleneck", "train", "--out", str(out), "--resume", "--epochs", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{out} holds 2 epochs of the "
                                                                "backprop baseline")
    assert sorted(p.name for p in out.glob("epoch_*")) == ["epoch_0002.json", "epoch_0002.npz"]
    assert json.loads((out / "backprop.json").read_text())["epochs"] == 2
    assert main(["bottleneck", "format", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a backprop baseline run" in err and "no format stage" in err
    assert "backprop.json (test accuracy" in err
    assert main(["bottleneck", "plot", str(out)]) == 2
    assert "no HSIC metrics (metrics.jsonl) to plot" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is a backprop run"):
        bt.load_run(out)


def test_keep_last_and_sigma_combined_resume(idx_dir, tmp_path, capsys):
    """--keep-last 1 keeps the latest checkpoint of each network (and its optimizer state); a
    sigma-combined run resumes from its config.json; format and plot point to its networks."""
    out = tmp_path / "sc"
    assert main(["bottleneck", "train", "--dataset", str(idx_dir), *TINY, "--epochs", "2",
                 "--keep-last", "1", "--sigma-combined", "1", "5", "--format-epochs", "2",
                 "--out", str(out)]) == 0
    for sub in ("sigma_1", "sigma_5"):
        assert sorted(p.name for p in (out / sub).glob("epoch_*")) == [
            "epoch_0002.json", "epoch_0002.npz"]
        assert sorted(p.name for p in (out / sub / "optimizer").iterdir()) == [
            "epoch_0002.json", "epoch_0002.npz"]
    capsys.readouterr()
    assert main(["bottleneck", "train", "--out", str(out), "--resume", "--epochs", "3",
                 "--sigma-combined", "1", "5"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        f"{out} holds 3 epochs of each network of the sigma-combined 1 5")
    assert [r["epoch"] for r in read_jsonl(out / "sigma_5" / "metrics.jsonl")] == [1, 2, 3]
    assert sorted(p.name for p in (out / "sigma_5").glob("epoch_*.npz")) == ["epoch_0003.npz"]
    assert main(["bottleneck", "train", "--out", str(out), "--resume",
                 "--sigma-combined", "1", "10"]) == 2
    assert "`--sigma-combined`: the run in" in capsys.readouterr().err
    for command in ("format", "plot"):
        assert main(["bottleneck", command, str(out)]) == 2
        assert "is a sigma-combined run" in capsys.readouterr().err
