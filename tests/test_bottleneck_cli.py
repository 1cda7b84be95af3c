"""``hsic bottleneck train|format|plot`` on a tiny synthetic IDX dataset directory."""

import json
import struct

import numpy as np
import pytest

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
