import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _close_pyplot_figures():
    """Figures drawn while pyplot is loaded are pyplot figures (``hsic.plot`` draws through
    pyplot when it is in use): close them after each test, so that they do not pile up past
    matplotlib's 20-figure warning (an error here)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
