"""hsic.pairwise: every entry against hsic.test, the adjustments against NumPy and scipy,
column names, rng, block/batch invariance, method objects and input validation."""

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest
import reference as ref
import scipy.stats

import hsic
from hsic._api.pairwise import adjust_pvalues


def _data(rng, n=40):
    X = rng.normal(size=(n, 4))
    X[:, 3] = np.sin(2 * X[:, 0]) + 0.2 * rng.normal(size=n)
    Y = np.column_stack([X[:, 1] ** 2 + 0.3 * rng.normal(size=n), rng.uniform(size=n), X[:, 2]])
    return X, Y


@pytest.mark.parametrize("n", [30, 300])  # one block of rows, or three (the last part padding)
def test_permuted_stack_sums_match_numpy(rng, n):
    """The shared engine of the many-pair and aggregated tests: every pair of two stacks of
    centred Gram matrices, against ``Σ_ij K̄_ij L̄_{p(i)p(j)}`` written out in NumPy."""
    from hsic._base.validation import precision
    from hsic._nulls.permutation import pad_rows, permuted_stack_sums

    def centred(a):
        K = ref.gaussian_gram(a, ref.median_bandwidth(a))
        H = np.eye(n) - 1.0 / n
        return H @ K @ H

    Ks = np.stack([centred(rng.normal(size=(n, 1))) for _ in range(2)])
    Ls = np.stack([centred(rng.normal(size=(n, 2))) for _ in range(3)])
    perms = np.stack([rng.permutation(n) for _ in range(4)]).astype(np.int32)
    with precision(np.float64):
        got = np.asarray(permuted_stack_sums(pad_rows(Ks), Ls, perms))
    want = np.array([[[np.sum(K * L[np.ix_(p, p)]) for L in Ls] for K in Ks] for p in perms])
    assert got.shape == (4, 2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", [hsic.Permutation(n_resamples=49), hsic.Gamma()], ids=repr)
def test_each_entry_equals_hsic_test(rng, method):
    X, Y = _data(rng)
    res = hsic.pairwise(X, Y, method=method, rng=5, dtype="float64")
    assert res.statistic.shape == res.pvalue.shape == (4, 3)
    for i, j in [(0, 0), (1, 0), (2, 2), (3, 1), (3, 2)]:
        single = hsic.test(X[:, i], Y[:, j], method=method, rng=5, dtype="float64")
        np.testing.assert_allclose(res.statistic[i, j], single.statistic, rtol=1e-9)
        np.testing.assert_allclose(res.pvalue[i, j], single.pvalue, rtol=1e-9)
        np.testing.assert_allclose(res.bandwidths_x[i], single.bandwidth_x, rtol=1e-12)
        np.testing.assert_allclose(res.bandwidths_y[j], single.bandwidth_y, rtol=1e-12)


def test_symmetric_entries_against_numpy_reference_and_hsic_test(rng):
    X, _ = _data(rng)
    method = hsic.Permutation(n_resamples=39)
    res = hsic.pairwise(X, method=method, rng=2, dtype="float64", block_size=3)
    assert res.symmetric and res.n_tests == 6 and res.names_y == res.names_x
    assert np.isnan(np.diag(res.statistic)).all() and np.isnan(np.diag(res.pvalue)).all()
    np.testing.assert_array_equal(res.pvalue, res.pvalue.T)
    for i in range(4):
        for j in range(i + 1, 4):
            K = ref.gaussian_gram(X[:, i], ref.median_bandwidth(X[:, i]))
            L = ref.gaussian_gram(X[:, j], ref.median_bandwidth(X[:, j]))
            np.testing.assert_allclose(res.statistic[i, j], ref.hsic_biased(K, L), rtol=1e-9)
            single = hsic.test(X[:, i], X[:, j], method=method, rng=2, dtype="float64")
            assert res.pvalue[i, j] == pytest.approx(single.pvalue, rel=1e-12)


def test_gamma_entries_against_gretton_transcription(rng):
    X, Y = _data(rng)
    res = hsic.pairwise(X, Y, method="gamma", dtype="float64")
    for i, j in [(0, 0), (1, 0), (3, 2), (2, 2)]:
        x, y = X[:, [i]], Y[:, [j]]
        stat, p = ref.hsic_test_gamma(x, y, ref.median_bandwidth(x), ref.median_bandwidth(y))
        np.testing.assert_allclose(res.statistic[i, j] * 40, stat, rtol=1e-9)
        np.testing.assert_allclose(res.pvalue[i, j], p, rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("n", [5, 63, 64, 150, 257, 1000, 2049])
def test_triangle_pieces_cover_a_symmetric_matrix_once(rng, n):
    """The gamma method's half-matrix split: off-diagonal blocks doubled plus diagonal blocks
    give the full sum of A∘B for symmetric A and B, each upper entry in exactly one block."""
    from hsic._api.pairwise import TRIANGLE_ROWS, _triangle_pieces

    off, diag = _triangle_pieces(n)
    assert len(off) <= 7 and len(diag) <= 8
    count = np.zeros((n, n), dtype=int)
    for r0, r1, c0, c1 in off:
        count[r0:r1, c0:c1] += 1
        count[c0:c1, r0:r1] += 1
    for r0, r1 in diag:
        count[r0:r1, r0:r1] += 1
    np.testing.assert_array_equal(count, 1)
    a, b = rng.normal(size=(2, n, n))
    a, b = a + a.T, b + b.T
    halves = 2 * sum(np.sum(a[r0:r1, c0:c1] * b[r0:r1, c0:c1]) for r0, r1, c0, c1 in off)
    halves += sum(np.sum(a[r0:r1, r0:r1] * b[r0:r1, r0:r1]) for r0, r1 in diag)
    np.testing.assert_allclose(halves, np.sum(a * b), rtol=1e-12)
    assert sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in off) + sum(
        (r1 - r0) ** 2 for r0, r1 in diag
    ) <= n * n / 2 + n * max(2 * TRIANGLE_ROWS, n // 4) / 2


def test_gamma_entries_against_transcription_with_split_gram_matrices(rng):
    """n = 150: the Gram matrices are split into off-diagonal and diagonal blocks; 5 columns in
    blocks of 2 (balanced to 2, 2, 1 + padding)."""
    n = 150
    X = rng.normal(size=(n, 5))
    Y = np.column_stack([np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=n), rng.normal(size=n)])
    res = hsic.pairwise(X, Y, method="gamma", dtype="float64", block_size=2)
    for i, j in [(0, 0), (1, 0), (4, 1), (2, 1)]:
        x, y = X[:, [i]], Y[:, [j]]
        stat, p = ref.hsic_test_gamma(x, y, ref.median_bandwidth(x), ref.median_bandwidth(y))
        np.testing.assert_allclose(res.statistic[i, j] * n, stat, rtol=1e-9)
        np.testing.assert_allclose(res.pvalue[i, j], p, rtol=1e-7, atol=1e-14)
    r32 = hsic.pairwise(X, Y, method="gamma")
    np.testing.assert_allclose(r32.statistic, res.statistic, rtol=1e-4)
    sym = hsic.pairwise(X, method="gamma", dtype="float64", block_size=3)
    x, y = X[:, [1]], X[:, [3]]
    stat, p = ref.hsic_test_gamma(x, y, ref.median_bandwidth(x), ref.median_bandwidth(y))
    np.testing.assert_allclose(sym.statistic[1, 3] * n, stat, rtol=1e-9)
    np.testing.assert_allclose(sym.pvalue[3, 1], p, rtol=1e-7, atol=1e-14)


def test_float32_close_to_float64(rng):
    X, Y = _data(rng)
    r32 = hsic.pairwise(X, Y, method="gamma")
    r64 = hsic.pairwise(X, Y, method="gamma", dtype="float64")
    np.testing.assert_allclose(r32.statistic, r64.statistic, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(r32.pvalue, r64.pvalue, rtol=2e-2, atol=1e-4)


def _bh_numpy(p):
    """Benjamini–Hochberg step-up adjusted p-values, written from the definition."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    out = np.empty(m)
    for i in range(m):
        # p̃_i = min over all j with p_j >= p_i of m p_j / rank(p_j)
        ranks = np.array([np.sum(p <= p[j]) for j in range(m)])
        candidates = [m * p[j] / ranks[j] for j in range(m) if p[j] >= p[i]]
        out[i] = min(1.0, min(candidates))
    return out


def test_adjustments_against_numpy_and_scipy(rng):
    p = rng.uniform(size=40) ** 3
    np.testing.assert_allclose(adjust_pvalues(p, method="bh"), _bh_numpy(p), rtol=1e-12)
    np.testing.assert_allclose(
        adjust_pvalues(p, method="bh"), scipy.stats.false_discovery_control(p), rtol=1e-12
    )
    np.testing.assert_allclose(adjust_pvalues(p, method="bonferroni"), np.minimum(1, 40 * p))
    # a hand-computed case: m = 3, p = (0.01, 0.04, 0.03) -> (0.03, 0.04, 0.04)
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03], method="bh"), [0.03, 0.04, 0.04])


@pytest.mark.parametrize("adjust", ["bh", "bonferroni"])
def test_result_adjustment_over_the_tested_pairs(rng, adjust):
    X, Y = _data(rng)
    res = hsic.pairwise(X, Y, method="gamma", adjust=adjust)
    assert res.n_tests == 12
    expected = adjust_pvalues(res.pvalue.ravel(), method=adjust).reshape(4, 3)
    np.testing.assert_allclose(res.pvalue_adjusted, expected)
    sym = hsic.pairwise(X, method="gamma", adjust=adjust)
    upper = np.triu_indices(4, 1)
    np.testing.assert_allclose(
        sym.pvalue_adjusted[upper], adjust_pvalues(sym.pvalue[upper], method=adjust)
    )
    np.testing.assert_array_equal(sym.pvalue_adjusted, sym.pvalue_adjusted.T)
    assert hsic.pairwise(X, method="gamma").pvalue_adjusted is None


def test_detects_the_dependent_pairs(rng):
    X, Y = _data(rng)
    res = hsic.pairwise(X, Y, method="gamma", adjust="bonferroni")
    # dependent: (x1, y0) through a square, (x2, y2) identical, (x0, x3) through a sine
    assert res.pvalue_adjusted[1, 0] < 1e-3 and res.pvalue_adjusted[2, 2] < 1e-3
    assert res.pvalue_adjusted[0, 1] > 0.05
    sym = hsic.pairwise(X, method="gamma", adjust="bh")
    assert sym.pairs()[0]["x"] == "x0" and sym.pairs()[0]["y"] == "x3"


def test_names_from_dataframes_and_series(rng):
    X, Y = _data(rng)
    dx = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    dy = pd.DataFrame(Y, columns=["u", "v", "w"])
    res = hsic.pairwise(dx, dy, method="gamma")
    assert res.names_x == ("a", "b", "c", "d") and res.names_y == ("u", "v", "w")
    plain = hsic.pairwise(X, Y, method="gamma")
    assert plain.names_x == ("x0", "x1", "x2", "x3") and plain.names_y == ("y0", "y1", "y2")
    np.testing.assert_array_equal(res.pvalue, plain.pvalue)
    series = hsic.pairwise(dx, pd.Series(Y[:, 0], name="target"), method="gamma")
    assert series.names_y == ("target",) and series.pvalue.shape == (4, 1)
    assert "a ~" in str(res) or "~ u" in str(res)


def test_result_object_and_to_dict(rng):
    X, Y = _data(rng)
    res = hsic.pairwise(X, method=hsic.Permutation(n_resamples=19), adjust="bh", rng=5)
    assert dataclasses.is_dataclass(res) and isinstance(res, hsic.TestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.method = "gamma"
    assert res.null_distribution is None and res.info == {"n_resamples": 19, "rng": 5}
    stat, p = res
    assert stat is res.statistic and p is res.pvalue
    d = res.to_dict()
    assert d["names_x"] == ["x0", "x1", "x2", "x3"] and d["statistic"][0][0] is None
    assert d["pvalue"][0][1] == res.pvalue[0, 1] and d["info"] == {"n_resamples": 19, "rng": 5}
    assert json.loads(json.dumps(d)) == d
    assert len(res.pairs()) == 6
    text = str(res)
    assert text.startswith("PairwiseResult(method='permutation', n_resamples=19, rng=5)")
    assert "6 pairs tested, adjust='bh'" in text
    assert hsic.pairwise(X, method="gamma", rng=2).info == {"rng": 2}


def test_rng_and_block_and_batch_invariance(rng):
    X, Y = _data(rng)
    method, batched = hsic.Permutation(n_resamples=60), hsic.Permutation(60, batch_size=7)
    a = hsic.pairwise(X, Y, method=method, rng=1)
    b = hsic.pairwise(X, Y, method=batched, rng=1, block_size=2)
    np.testing.assert_array_equal(a.pvalue, b.pvalue)
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=1e-5)
    c = hsic.pairwise(X, Y, method=method, rng=2)
    assert not np.array_equal(a.pvalue, c.pvalue)
    key = hsic.pairwise(X, Y, method=method, rng=jax.random.key(1))
    np.testing.assert_array_equal(
        key.pvalue, hsic.pairwise(X, Y, method=method, rng=jax.random.key(1)).pvalue
    )
    sym_a = hsic.pairwise(X, method=method, rng=1)
    sym_b = hsic.pairwise(X, method=batched, rng=1, block_size=3)
    np.testing.assert_array_equal(sym_a.pvalue, sym_b.pvalue)


def test_method_names_are_the_default_method_objects(rng):
    X, _ = _data(rng)
    for name, method in (("permutation", hsic.Permutation()), ("gamma", hsic.Gamma())):
        by_name = hsic.pairwise(X, method=name, rng=3)
        by_object = hsic.pairwise(X, method=method, rng=3)
        np.testing.assert_array_equal(by_name.pvalue, by_object.pvalue)
        assert by_name.method == name
    assert hsic.pairwise(X, rng=1).info == {"n_resamples": 1000, "rng": 1}


@pytest.mark.parametrize(
    "method", [hsic.Bootstrap(), hsic.KCI(), hsic.RFF(), "bootstrap"], ids=repr
)
def test_a_method_of_another_test_is_refused(rng, method):
    X, _ = _data(rng)
    with pytest.raises(ValueError, match=r"`method` of hsic.pairwise must be one of "
                       r"'permutation', 'gamma', or one of hsic.Permutation\(...\), hsic.Gamma"):
        hsic.pairwise(X, method=method)


def test_other_kernels(rng):
    X = rng.integers(0, 3, size=(50, 3))
    X[:, 2] = X[:, 0]
    res = hsic.pairwise(X, method="gamma", kernel_x="delta")
    assert res.bandwidths_x is None and res.pvalue[0, 2] < 1e-6
    lin = hsic.pairwise(X.astype(float), method="gamma", kernel_x=hsic.kernels.Linear())
    single = hsic.test(X[:, 0], X[:, 1], method="gamma", kernel_x="linear", kernel_y="linear")
    np.testing.assert_allclose(lin.pvalue[0, 1], single.pvalue, rtol=1e-4)
    # X's and Y's columns take their own kernels, as x and y do in hsic.test
    Xf, Yf = X.astype(float), rng.normal(size=(50, 2))
    mixed = hsic.pairwise(Xf, Yf, method="gamma", kernel_x="linear", kernel_y="laplace")
    one = hsic.test(Xf[:, 1], Yf[:, 0], method="gamma", kernel_x="linear", kernel_y="laplace")
    np.testing.assert_allclose(mixed.statistic[1, 0], one.statistic, rtol=1e-4)
    np.testing.assert_allclose(mixed.pvalue[1, 0], one.pvalue, rtol=1e-4)
    assert mixed.bandwidths_x is None and mixed.bandwidths_y[0] == pytest.approx(
        one.bandwidth_y, rel=1e-5
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="exact"), "`method` of hsic.pairwise must be one of 'permutation', 'gamma'"),
        (dict(adjust="holm"), "`adjust` must be one of 'bh', 'bonferroni'"),
        (dict(block_size=0), "`block_size` must be a positive integer; got 0"),
        (dict(block_size=2.0), "`block_size` must be a positive integer; got 2.0"),
        (dict(kernel_x="precomputed"), "`kernel_x` cannot be 'precomputed'"),
        (dict(kernel_x="rbf"), "`kernel_x` must be one of"),
        (dict(kernel_y="linear"), "`kernel_y` applies to the columns of Y"),
        (dict(rng=-1), "`rng` must be a non-negative integer"),
        (dict(dtype="int32"), "`dtype` must be float32 or float64"),
    ],
)
def test_bad_arguments(rng, kwargs, match):
    X, _ = _data(rng)
    with pytest.raises(ValueError, match=match):
        hsic.pairwise(X, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(n_permutations=10), dict(batch_size=10)])
def test_old_keywords_are_options_of_the_method_object(rng, kwargs):
    X, _ = _data(rng)
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        hsic.pairwise(X, **kwargs)


def test_bad_data(rng):
    X, Y = _data(rng)
    with pytest.raises(ValueError, match="`X` and `Y` must have the same number of samples"):
        hsic.pairwise(X, Y[:30])
    with pytest.raises(ValueError, match="`X` must have at least 2 columns"):
        hsic.pairwise(X[:, :1])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="`X` must be finite"):
        hsic.pairwise(bad)
    with pytest.raises(ValueError, match="`Y` must be 1-D .* or 2-D"):
        hsic.pairwise(X, np.zeros((40, 2, 2)))
    const = pd.DataFrame(X, columns=list("abcd")).assign(c=1.0)
    with pytest.raises(ValueError, match="Column 'c' of `X` is constant"):
        hsic.pairwise(const)
    with pytest.raises(ValueError, match="needs at least 6 samples; got n=5"):
        hsic.pairwise(X[:5], method="gamma")
    with pytest.raises(ValueError, match="needs at least 5 samples; got n=4"):
        hsic.pairwise(X[:4])


def test_median_fallback_warns_with_the_column_name_and_matches_hsic_test(rng):
    X = rng.normal(size=(40, 3))
    X[:30, 1] = 0.0  # most pairs of column 1 are duplicates: its median distance is 0
    with pytest.warns(RuntimeWarning, match=r"samples of `X\['x1'\]` is 0"):
        res = hsic.pairwise(X, method="gamma", dtype="float64")
    with pytest.warns(RuntimeWarning, match="median distance"):
        single = hsic.test(X[:, 0], X[:, 1], method="gamma", dtype="float64")
    np.testing.assert_allclose(res.bandwidths_x[1], single.bandwidth_y, rtol=1e-12)
    np.testing.assert_allclose(res.pvalue[0, 1], single.pvalue, rtol=1e-9)


def test_float32_bandwidths_within_float32_rounding_of_float64(rng):
    X, Y = _data(rng, n=300)
    r32 = hsic.pairwise(X, Y, method="gamma")
    np.testing.assert_allclose(
        r32.bandwidths_x, [ref.median_bandwidth(X[:, j].astype(np.float32)) for j in range(4)],
        rtol=1e-6,
    )
