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


@pytest.fixture
def pyplot_in_use():
    """pyplot imported (Agg backend), as in a notebook; afterwards its figures are closed and
    pyplot is forgotten again if it was not loaded before, so other tests draw without it."""
    import sys

    had = "matplotlib.pyplot" in sys.modules
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    plt.switch_backend("Agg")
    plt.close("all")
    yield plt
    plt.close("all")
    plt.switch_backend(backend)
    if not had:
        del sys.modules["matplotlib.pyplot"]


def test_plot_draws_through_pyplot_when_it_is_in_use(data, pyplot_in_use):
    plt = pyplot_in_use
    res = hsic.test(*data, method=hsic.Permutation(n_resamples=49), rng=0)
    ax = res.plot()
    # a pyplot figure: plt.show() (or a notebook) displays it, plt.gcf() finds it
    assert ax.figure is plt.gcf() and ax.figure.number in plt.get_fignums()
    assert len(ax.patches) == 40
    heat = hsic.pairwise(np.c_[data], method="gamma").plot()
    assert heat.figure.number in plt.get_fignums() and len(plt.get_fignums()) == 2


def test_plot_without_pyplot_leaves_pyplot_alone(data, monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    ax = hsic.test(*data, method="gamma").plot()
    assert "matplotlib.pyplot" not in sys.modules
    assert type(ax.figure.canvas).__name__ == "FigureCanvasAgg"


def _density(ax):
    (line,) = [ln for ln in ax.lines if ln.get_linestyle() != "--"]
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata())


def test_block_normal_null_is_drawn_as_its_density(rng, tmp_path):
    import scipy.stats

    x = rng.normal(size=400)
    res = hsic.test(x, x + rng.normal(size=400), method="block")
    assert res.null_distribution is None
    ax = res.plot()
    _saved(ax, tmp_path / "block.png")
    grid, density = _density(ax)
    # an independent reference: the normal law N(0, null_std²) of the block statistic
    expected = scipy.stats.norm.pdf(grid, scale=res.info["null_std"])
    np.testing.assert_allclose(density, expected, rtol=1e-12)
    assert grid.min() < 0 < grid.max() and grid.max() >= res.statistic
    assert ax.get_xlabel() == "block average of unbiased HSIC"


def test_every_result_type_plots(rng, tmp_path):
    import scipy.stats

    z = rng.normal(size=120)
    x, y = z + 0.5 * rng.normal(size=120), z + 0.5 * rng.normal(size=120)
    results = {
        "rff": hsic.test(x, y, method="rff", rng=0),
        "joint-permutation": hsic.joint_test([x, y, z], method=hsic.Permutation(n_resamples=49)),
        "joint-gamma": hsic.joint_test([x, y, z], method="gamma"),
        "kci-gamma": hsic.conditional_test(x, y, z),
        "kci-simulated": hsic.conditional_test(x, y, z, method=hsic.KCI(null="simulated",
                                                                           n_resamples=200)),
        "rcit-hbe": hsic.conditional_test(x, y, z, method="rcit", rng=0),
        "pairwise": hsic.pairwise(np.c_[x, y, z], method="gamma"),
    }
    for name, res in results.items():
        ax = res.plot()
        _saved(ax, tmp_path / f"{name}.png")
        if name == "pairwise":
            assert ax.images
        elif res.null_distribution is not None:
            assert len(ax.patches) == 40
        else:
            grid, density = _density(ax)
            info = res.info
            if "hbe_dof" in info:  # T = s1 + sqrt(s2/ν)(χ²_ν − ν), null_variance = 2 s2
                c = np.sqrt(info["null_variance"] / 2 / info["hbe_dof"])
                expected = scipy.stats.chi2.pdf(
                    (grid - info["null_mean"]) / c + info["hbe_dof"], info["hbe_dof"]
                ) / c
            else:
                expected = scipy.stats.gamma.pdf(
                    grid, info["gamma_shape"], scale=info["gamma_scale"]
                )
            np.testing.assert_allclose(density, expected, rtol=1e-9, atol=1e-12)
    assert results["joint-gamma"].plot().get_xlabel() == "dHSIC"
