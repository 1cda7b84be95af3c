"""Tests of hsic.mi.ksg: a NumPy transcription of Kraskov et al. (2004), scikit-learn, accuracy
on a known MI, invariances, the two neighbour searches, and input checks."""

import math

import numpy as np
import pytest
from scipy.special import digamma

import hsic.mi
from hsic.mi import _ksg

RHO_08_MI = -0.5 * math.log(1 - 0.8**2)  # 0.5108 nats


def ksg_reference(x, y, k, variant):
    """Direct NumPy transcription of Kraskov et al. (2004), eqs. 8 and 9 (O(n²) memory).

    Max-norm in each space; the joint distance is the max of the two. Variant 1 counts
    marginal distances strictly below the k-th joint distance; variant 2 counts those at most
    the largest marginal distance among the k nearest neighbours (all points tied at the k-th
    joint distance count as neighbours, the documented rule for ties).
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    n = len(x)
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(axis=2)
    dz = np.maximum(dx, dy)
    np.fill_diagonal(dz, np.inf)
    eye = np.eye(n, dtype=bool)
    eps = np.sort(dz, axis=1)[:, k - 1]  # distance to the k-th neighbour
    if variant == 1:
        nx = ((dx < eps[:, None]) & ~eye).sum(axis=1)
        ny = ((dy < eps[:, None]) & ~eye).sum(axis=1)
        return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))
    ball = dz <= eps[:, None]
    ex = np.where(ball, dx, -np.inf).max(axis=1)
    ey = np.where(ball, dy, -np.inf).max(axis=1)
    nx = ((dx <= ex[:, None]) & ~eye).sum(axis=1)
    ny = ((dy <= ey[:, None]) & ~eye).sum(axis=1)
    return digamma(k) - 1 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny))


def correlated(n, rho=0.8, seed=0, dims=(1, 1)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dims[0]))
    y = rho * x[:, : dims[1]].mean(axis=1, keepdims=True) + rng.normal(size=(n, dims[1]))
    return x, y


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("dims", [(1, 1), (2, 3)])
def test_matches_numpy_transcription(variant, k, dims):
    x, y = correlated(300, seed=k, dims=dims)
    want = ksg_reference(x, y, k, variant)
    got = hsic.mi.ksg(x, y, k=k, variant=variant, algorithm="brute", dtype="float64")
    assert got == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize("variant", [1, 2])
def test_matches_transcription_with_ties(variant):
    # Ties in the marginals (x on a 0.05 grid) and at the k-th joint distance (a lattice):
    # the strict and non-strict inequalities and the tie rule all matter here.
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=300) / 0.05) * 0.05
    y = 0.5 * x + rng.normal(size=300)
    lattice = np.array([(i, j) for i in range(15) for j in range(20)], float)  # 300 points
    lattice = lattice[rng.permutation(len(lattice))]
    for a, b in [(x, y), (lattice[:, 0], lattice[:, 1] + 0.5 * lattice[:, 0])]:
        want = ksg_reference(a, b, 4, variant)
        for algorithm in ("brute", "sorted"):
            got = hsic.mi.ksg(a, b, k=4, variant=variant, algorithm=algorithm, dtype="float64")
            assert got == pytest.approx(want, abs=1e-10), algorithm


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("kind", ["normal", "heavy", "ties"])
def test_sorted_and_brute_agree(variant, kind):
    # n = 2000 takes the sorted search through its first windows, then brute force for the
    # rows they could not settle; the counts, hence the estimates, are identical.
    rng = np.random.default_rng(7)
    x = rng.normal(size=2000)
    if kind == "heavy":
        x = rng.standard_t(1.5, size=2000)
    y = np.sin(x) + 0.3 * rng.normal(size=2000)
    if kind == "ties":
        x, y = np.round(x, 2), np.round(y, 3)
    sorted_ = hsic.mi.ksg(x, y, variant=variant, algorithm="sorted")
    brute = hsic.mi.ksg(x, y, variant=variant, algorithm="brute")
    assert sorted_ == pytest.approx(brute, abs=1e-12)


def test_sorted_search_is_exact_at_boundaries(monkeypatch):
    # A row the grid cannot settle is redone in a window along sorted x, then along sorted y,
    # then in windows 4 times wider, and by brute force last. Three blobs at (0, 0), (50, 0)
    # and (0, 50), and three points at (50, 50), force every level: those three have their
    # third neighbour ~50 away, with hundreds of points that close in x alone and in y alone.
    calls, brute_rows = [], []
    window, brute = _ksg._window_kernel, _ksg._brute

    def logged_window(*args, **kw):
        out = window(*args, **kw)
        along = "x" if np.array_equal(np.asarray(args[0])[: len(x)], np.sort(x)) else "y"
        settled = np.unique(np.asarray(args[2])[np.asarray(out[3])]).size
        calls.append((along, kw["w"], settled))
        return out

    monkeypatch.setattr(_ksg, "_window_kernel", logged_window)
    monkeypatch.setattr(
        _ksg, "_brute", lambda *a, **kw: brute_rows.append(len(a[2])) or brute(*a, **kw)
    )
    rng = np.random.default_rng(11)
    centres = np.array([(0, 0), (50, 0), (0, 50)] * 399 + [(50, 50)] * 3, float)
    spread = np.where(np.arange(len(centres)) < 1197, 1.0, 0.01)[:, None]
    z = centres + spread * rng.normal(size=centres.shape)
    x, y = z[:, 0], z[:, 1]
    w = _ksg._window(len(x), 3)
    for variant in (1, 2):
        calls.clear()
        brute_rows.clear()
        a = hsic.mi.ksg(x, y, variant=variant, algorithm="sorted", dtype="float64")
        assert a == pytest.approx(ksg_reference(x, y, 3, variant), abs=1e-10)
        assert [c[:2] for c in calls] == [("x", w), ("y", w), ("x", 4 * w), ("y", 4 * w)]
        # each search settled rows (a count of 1 may be the padding row), but the last
        assert all(c[2] > 1 for c in calls[:3])
        assert brute_rows == [3]  # the three lonely points


@pytest.mark.parametrize("variant", [1, 2])
def test_bivariate_normal_rho_08(variant):
    x, y = hsic.mi.tasks.multinormal(1, 1, rho=0.8).sample(2000, rng=0)
    assert abs(hsic.mi.ksg(x, y, variant=variant) - RHO_08_MI) < 0.05


def test_agrees_with_sklearn_exactly_on_its_noisy_inputs():
    # scikit-learn's mutual_info_regression (KSG variant 1) scales each variable to unit
    # variance and adds noise 1e-10 * max(1, mean|v|) * N(0, 1) drawn from random_state. With
    # the same scaling and noise our estimate is the same up to rounding: sklearn's strict
    # count uses radius nextafter(eps, 0) with "<=", ours "< eps", the same set unless two
    # distances are one ulp apart. (It also clips negative estimates to 0: data are dependent.)
    from sklearn.feature_selection import mutual_info_regression

    rng = np.random.default_rng(5)
    x = rng.normal(size=2000)
    y = np.tanh(x) + 0.5 * rng.normal(size=2000)
    state = np.random.RandomState(42)
    xs = x / x.std()
    xs = xs + 1e-10 * max(1.0, np.mean(np.abs(xs))) * state.standard_normal(size=(2000, 1))[:, 0]
    ys = y / y.std()
    ys = ys + 1e-10 * max(1.0, np.mean(np.abs(ys))) * state.standard_normal(size=2000)
    for k in (3, 5):
        want = mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=42)[0]
        assert hsic.mi.ksg(xs, ys, k=k, dtype="float64") == pytest.approx(want, rel=1e-9)


def test_agrees_with_sklearn_on_plain_data():
    # Without reproducing the noise (which moves the data by ~1e-10 only), on standardised
    # data the two estimates agree to well below the estimator's standard error.
    from sklearn.feature_selection import mutual_info_regression

    x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=4)
    x, y = x / x.std(), y / y.std()
    want = mutual_info_regression(x, y[:, 0], n_neighbors=3, random_state=0)[0]
    assert hsic.mi.ksg(x, y) == pytest.approx(want, abs=2e-3)


def test_invariances():
    x, y = correlated(2000, seed=2)
    base = hsic.mi.ksg(x, y, dtype="float64")
    # exact: shared scaling and shifts, sign flips, sample order, swapping x and y
    perm = np.random.default_rng(0).permutation(2000)
    assert hsic.mi.ksg(3 * x + 1, -3 * y - 2, dtype="float64") == pytest.approx(base, abs=1e-9)
    assert hsic.mi.ksg(x[perm], y[perm], dtype="float64") == pytest.approx(base, abs=1e-12)
    assert hsic.mi.ksg(y, x, dtype="float64") == pytest.approx(base, abs=1e-12)
    # to tolerance: monotone transforms of each variable (MI is invariant, KSG nearly so)
    assert hsic.mi.ksg(np.exp(x), y**3) == pytest.approx(base, abs=0.05)
    assert hsic.mi.ksg(np.arcsinh(5 * x), np.tanh(y)) == pytest.approx(base, abs=0.05)


def test_near_zero_on_independent_data():
    rng = np.random.default_rng(9)
    for dims in [(1, 1), (3, 2)]:
        x, y = rng.normal(size=(2000, dims[0])), rng.uniform(size=(2000, dims[1]))
        for variant in (1, 2):
            assert abs(hsic.mi.ksg(x, y, variant=variant)) < 0.03


def test_multivariate_accuracy():
    # In 6 joint dimensions KSG is biased downwards (Kraskov et al. 2004, fig. 4; Czyż et al.
    # 2023): at n = 2000 the estimate lies a little below the truth, 1.0217 nats.
    task = hsic.mi.tasks.multinormal(3, 3, rho=0.8, sparse=True, n_interacting=2)
    x, y = task.sample(2000, rng=1)
    assert 0 < task.mi - hsic.mi.ksg(x, y) < 0.2


def test_base_and_dtype():
    x, y = correlated(500, seed=3)
    nats = hsic.mi.ksg(x, y, dtype="float64")
    assert hsic.mi.ksg(x, y, base=2, dtype="float64") == pytest.approx(nats / math.log(2))
    assert hsic.mi.ksg(x, y, base=math.e, dtype="float64") == pytest.approx(nats)
    assert hsic.mi.ksg(x, y) == pytest.approx(nats, abs=1e-4)  # float32 distances
    assert isinstance(nats, float)


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_kth_smallest_shortlist_matches_sort(k):
    rng = np.random.default_rng(k)
    d = rng.integers(0, 40, size=(6, 1000)).astype(np.float32)  # many repeated values
    d[0, :] = 7.0  # a row of one value
    d[1, -3:] = -1.0  # the smallest at the very end (the padded last slice)
    want = np.sort(d, axis=1)[:, k - 1]
    for registers in (None, _ksg._registers(k)):
        got = np.asarray(_ksg._kth_smallest(d, np.int32(k), registers))
        np.testing.assert_array_equal(got, want)


def test_digamma_table_matches_scipy():
    table = _ksg._digamma_table(100_000)
    m = np.arange(1, 100_001, dtype=np.float64)
    np.testing.assert_allclose(table[1:], digamma(m), rtol=0, atol=1e-12)
    assert table[1] == -np.euler_gamma and table[0] == digamma(0.0)
    assert _ksg._digamma_table(0).shape == (1,)


def test_duplicates_are_refused():
    # Discrete data (each value 4 times): refused, with the jitter option named (issue 18;
    # tests/test_bad_input.py checks the jittered estimate against scikit-learn).
    x = np.repeat(np.arange(50.0), 4)
    with pytest.raises(ValueError, match="exact duplicates .* Pass jitter=1e-10"):
        hsic.mi.ksg(x, x, k=3)


def test_no_recompile_for_nearby_n():
    x, y = correlated(1100, seed=0)
    hsic.mi.ksg(x[:1030], y[:1030], algorithm="brute")
    before = _ksg._brute_kernel._cache_size()
    hsic.mi.ksg(x[:1050], y[:1050], algorithm="brute")  # same padded size: no new trace
    hsic.mi.ksg(x[:1040], y[:1040] * 2, algorithm="brute")
    assert _ksg._brute_kernel._cache_size() == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, r"`k` must be a positive integer; got 0"),
        ({"k": 2.5}, r"`k` must be a positive integer; got 2.5"),
        ({"k": 20}, r"`k` must be smaller than the number of samples n=20; got 20"),
        ({"variant": 3}, r"`variant` must be 1 or 2; got 3"),
        ({"variant": True}, r"`variant` must be 1 or 2; got True"),
        ({"variant": 1.0}, r"`variant` must be 1 or 2; got 1.0"),
        ({"algorithm": "kdtree"}, r"`algorithm` must be one of 'auto', 'brute', 'sorted'"),
        ({"base": 1}, r"`base` must be None \(nats\) or a positive number other than 1"),
        ({"base": -2.0}, r"`base` must be None"),
        ({"base": "2"}, r"`base` must be None"),
        ({"dtype": "int32"}, r"`dtype` must be float32 or float64"),
    ],
)
def test_bad_arguments(kwargs, match):
    x, y = correlated(20)
    with pytest.raises(ValueError, match=match):
        hsic.mi.ksg(x, y, **kwargs)


def test_bad_data():
    x, y = correlated(30)
    bad = x.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"`x` must be finite; got 1 NaN or inf value\(s\)"):
        hsic.mi.ksg(bad, y)
    with pytest.raises(ValueError, match=r"same number of samples \(rows\); got 30 and 29"):
        hsic.mi.ksg(x, y[:29])
    with pytest.raises(ValueError, match=r"`y` must be 1-D \(n,\) or 2-D"):
        hsic.mi.ksg(x, np.zeros((30, 2, 2)))
    with pytest.raises(ValueError, match=r"`x` is empty"):
        hsic.mi.ksg(np.zeros((0, 1)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match=r"`algorithm` 'sorted' needs 1-D `x` and `y`"):
        hsic.mi.ksg(np.zeros((30, 2)), y, algorithm="sorted")
