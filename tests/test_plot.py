"""hsic.plot: figures render to PNG with Agg, on new figures or given axes, without touching the
global matplotlib backend; a missing matplotlib gives an actionable ImportError."""

import builtins

import matplotlib
import numpy as np
import pytest

import hsic


@pytest.fixture
def data(rng):
    x = rng.normal(size=60)
    return x, x**2 + 0.5 * rng.normal(size=60)


def _saved(ax, path):
    ax.figure.savefig(path)
    assert path.exists() and path.stat().st_size > 1000
    return path


@pytest.mark.parametrize(
    "method",
    [
        hsic.Permutation(n_resamples=99),
        hsic.Gamma(),
        hsic.Aggregated(n_resamples=49),
        hsic.WildBootstrap(n_resamples=49),
    ],
    ids=lambda method: method.name,
)
def test_null_distribution_png(data, tmp_path, method):
    backend = matplotlib.get_backend()
    res = hsic.test(*data, method=method, rng=0)
    method = method.name
    ax = hsic.plot.null_distribution(res)
    _saved(ax, tmp_path / f"{method}.png")
    # the observed statistic is marked, and the p-value is in the legend
    observed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert observed and observed[0].get_xdata()[0] == pytest.approx(res.statistic)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(f"p = {res.pvalue:.3g}" in label for label in labels)
    if method == "gamma":
        assert len(ax.lines) == 2  # the density and the observed line
    else:
        assert len(ax.patches) == 40  # the histogram's bars
    assert matplotlib.get_backend() == backend


def test_result_plot_method_on_a_given_axes(data, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    res = hsic.test(*data, method=hsic.Permutation(n_resamples=49))
    assert res.plot(ax=axes[1], bins=10) is axes[1]
    assert len(axes[1].patches) == 10 and not axes[0].patches
    fig.savefig(tmp_path / "given.png")
    assert (tmp_path / "given.png").stat().st_size > 1000


@pytest.mark.parametrize("value", ["pvalue", "pvalue_adjusted", "statistic"])
def test_pairwise_heatmap_png(rng, tmp_path, value):
    X = rng.normal(size=(50, 5))
    X[:, 4] = np.cos(X[:, 0])
    res = hsic.pairwise(X, method="gamma", adjust="bh")
    ax = hsic.plot.pairwise(res, value=value)
    _saved(ax, tmp_path / f"{value}.png")
    assert [t.get_text() for t in ax.get_yticklabels()] == list(res.names_x)
    image = ax.images[0].get_array()
    assert image.mask[0, 0]  # the untested diagonal is blank
    expected = res.statistic[0, 4] if value == "statistic" else -np.log10(getattr(res, value)[0, 4])
    assert image[0, 4] == pytest.approx(expected)


def test_errors(rng, data, monkeypatch):
    res = hsic.pairwise(rng.normal(size=(30, 3)), method="gamma")
    with pytest.raises(ValueError, match="`value` must be one of 'pvalue'"):
        hsic.plot.pairwise(res, value="cka")
    with pytest.raises(ValueError, match="`value`='pvalue_adjusted' needs a result computed"):
        hsic.plot.pairwise(res, value="pvalue_adjusted")

    gamma = hsic.test(*data, method="gamma")
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "\.\[plot\]"'):
        hsic.plot.null_distribution(gamma)
