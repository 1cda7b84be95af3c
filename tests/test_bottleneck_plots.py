"""Run plots: the HSIC plane and the accuracy curves, drawn on an Agg canvas from metrics.jsonl."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hsic._base.io import DataFileError
from hsic.bottleneck import _plots
from hsic.bottleneck._checkpoint import append_jsonl
from hsic.bottleneck._plots import plot_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(run_dir, *, epochs=4, layers=3, accuracy=True):
    """A metrics log in the trainer's schema; returns the per-layer (zx, zy) series written."""
    rng = np.random.default_rng(0)
    zx = rng.uniform(0.2, 1.0, (epochs, layers))
    zy = rng.uniform(0.1, 0.9, (epochs, layers))
    run_dir.mkdir(parents=True, exist_ok=True)
    for e in range(epochs):
        record = {
            "epoch": e + 1,
            "step": 100 * (e + 1),
            "loss": (zx[e] - 2 * zy[e]).tolist(),
            "nhsic_zx": zx[e].astype(np.float32),
            "nhsic_zy": zy[e].tolist(),
            "wall_time": 1.5 * e,
        }
        if accuracy:
            record.update(
                train_acc=0.5 + 0.1 * e,
                test_acc=None if e == 0 else 0.45 + 0.1 * e,  # null accuracies are skipped
                train_acc_unformatted=0.4 + 0.1 * e,
            )  # test_acc_unformatted missing altogether
        append_jsonl(run_dir / "metrics.jsonl", record)
    return zx.astype(np.float32).astype(float), zy


def test_plot_run_writes_pngs_and_leaves_matplotlib_alone(tmp_path, monkeypatch):
    import matplotlib

    write_run(tmp_path / "run")
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    backend = dict.__getitem__(matplotlib.rcParams, "backend")
    out = tmp_path / "figures" / "nested"
    paths = plot_run(tmp_path / "run", out_dir=out)
    assert paths == [str(out / "hsic_plane.png"), str(out / "accuracy.png")]
    for path in paths:
        data = Path(path).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    # drawn on an Agg canvas: pyplot never imported, the user's backend unchanged
    assert "matplotlib.pyplot" not in sys.modules
    assert dict.__getitem__(matplotlib.rcParams, "backend") == backend


def test_hsic_plane_draws_each_layer_trajectory(tmp_path):
    zx, zy = write_run(tmp_path, layers=3)
    records = _plots.read_jsonl(tmp_path / "metrics.jsonl")
    fig = _plots._hsic_plane_figure(tmp_path / "metrics.jsonl", records)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "nHSIC(Z, X)" and ax.get_ylabel() == "nHSIC(Z, Y)"
    lines = {line.get_label(): line for line in ax.get_lines()}
    colours = set()
    for layer in range(3):
        line = lines[f"layer {layer + 1}"]
        np.testing.assert_allclose(line.get_xdata(), zx[:, layer])
        np.testing.assert_allclose(line.get_ydata(), zy[:, layer])
        colours.add(line.get_color())
    assert len(colours) == 3  # one colour per layer
    starts = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
    ends = [line for line in ax.get_lines() if line.get_marker() == "*" and len(line.get_xdata())]
    assert sorted(float(line.get_xdata()[0]) for line in starts) == sorted(zx[0])
    assert sorted(float(line.get_ydata()[0]) for line in ends) == sorted(zy[-1])


def test_hsic_plane_relative_to_the_ceilings(tmp_path):
    """With the ratios to the ceilings in the log (train writes them), a second panel draws
    each layer's trajectory of (saturation_zx, saturation_zy) with the ceilings marked at 1."""
    rng = np.random.default_rng(1)
    sx, sy = rng.uniform(0, 1, (3, 2)), rng.uniform(0, 1, (3, 2))
    sx[-1, 1] = sy[-1, 1] = 0.998  # layer 2 ends saturated
    for e in range(3):
        append_jsonl(tmp_path / "metrics.jsonl", {
            "epoch": e + 1, "nhsic_zx": [1.0, 2.0], "nhsic_zy": [0.5, 0.25],
            "saturation_zx": sx[e].tolist(), "saturation_zy": sy[e].tolist()})
    records = _plots.read_jsonl(tmp_path / "metrics.jsonl")
    fig = _plots._hsic_plane_figure(tmp_path / "metrics.jsonl", records)
    plane, relative = fig.axes
    assert plane.get_xlabel() == "nHSIC(Z, X)"
    assert relative.get_xlabel().startswith("nHSIC(Z, X) / ceiling")
    assert relative.get_xlim() == (0, 1.05) and relative.get_ylim() == (0, 1.05)
    lines = {line.get_label(): line for line in relative.get_lines()}
    for layer in range(2):
        np.testing.assert_allclose(lines[f"layer {layer + 1}"].get_xdata(), sx[:, layer])
        np.testing.assert_allclose(lines[f"layer {layer + 1}"].get_ydata(), sy[:, layer])
    assert list(lines["ceiling"].get_xdata()) == [1.0, 1.0]  # the vertical line x = 1
    assert any(p.get_label().startswith("saturated") for p in relative.patches)
    paths = plot_run(tmp_path)
    assert Path(paths[0]).read_bytes().startswith(PNG_SIGNATURE)


def test_accuracy_curves_skip_missing_values(tmp_path):
    write_run(tmp_path, epochs=4)
    fig = _plots._accuracy_figure(_plots.read_jsonl(tmp_path / "metrics.jsonl"))
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert sorted(lines) == ["test (format layer)", "train (format layer)", "train (unformatted)"]
    assert lines["test (format layer)"].get_xdata().tolist() == [2, 3, 4]
    np.testing.assert_allclose(lines["train (format layer)"].get_ydata(), [0.5, 0.6, 0.7, 0.8])
    write_run(tmp_path / "none", accuracy=False)
    fig = _plots._accuracy_figure(_plots.read_jsonl(tmp_path / "none" / "metrics.jsonl"))
    assert not fig.axes[0].get_lines()
    assert [t.get_text() for t in fig.axes[0].texts] == ["no accuracy recorded"]


def test_missing_matplotlib(tmp_path, monkeypatch):
    write_run(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(ImportError, match=r'pip install "\.\[plot\]"'):
        plot_run(tmp_path)


def test_bad_metrics_logs(tmp_path):
    with pytest.raises(DataFileError, match=r"metrics.jsonl: no metrics log in"):
        plot_run(tmp_path)
    log = tmp_path / "metrics.jsonl"
    log.write_text("")
    with pytest.raises(DataFileError, match=r"holds no records"):
        plot_run(tmp_path)
    append_jsonl(log, {"epoch": 1, "nhsic_zx": [0.5, 0.4], "nhsic_zy": [0.1, 0.2]})
    append_jsonl(log, {"epoch": 2, "nhsic_zx": [0.5, 0.4]})
    with pytest.raises(DataFileError, match=r"record 2 has no per-layer list 'nhsic_zy'"):
        plot_run(tmp_path)
    log.write_text("")
    append_jsonl(log, {"epoch": 1, "nhsic_zx": [0.5, 0.4], "nhsic_zy": [0.1, 0.2]})
    append_jsonl(log, {"epoch": 2, "nhsic_zx": [0.5], "nhsic_zy": [0.1]})
    with pytest.raises(DataFileError, match=r"record 2 has 1 layers in 'nhsic_zx'; record 1 has 2"):
        plot_run(tmp_path)
    log.write_text('{"epoch": 1}\n{oops\n')
    with pytest.raises(DataFileError, match=r"metrics.jsonl, line 2: not valid JSON"):
        plot_run(tmp_path)
