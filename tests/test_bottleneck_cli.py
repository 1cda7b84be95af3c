"""``hsic bottleneck train|format|plot`` on a tiny synthetic IDX dataset directory."""

import json
import struct

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
