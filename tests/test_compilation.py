"""Compilation: a new n reuses the kernels compiled for its padded size, with the same results.

The jitted kernels of ``hsic.test`` see the data padded to ``bucket_size(n)`` rows and the
true n as a traced scalar, with the padding masked out. These tests count XLA compilations
(JAX's monitoring events, not timings), and check that padding changes nothing: the same
statistic to float rounding, the same permutations, the same p-value.
"""


import jax
import numpy as np
import pytest
import reference as ref
from support import count_compilations

import hsic
from hsic._base.devices import make_mesh
from hsic._base.validation import precision
from hsic._nulls.permutation import gram_permutation_null, permutation_null
from hsic._stats.gram import (
    bucket_size,
    centred_grams,
    centred_sums,
    padded_pair,
    sharded_centred_sums,
)
from hsic.kernels import Gaussian, Laplace, Linear


def test_compilation_counter_counts_a_new_shape():
    f = jax.jit(lambda a: a * 2.0 + 1.0)
    with count_compilations() as count:
        f(np.ones(17, np.float32))
        f(np.ones(17, np.float32))
    assert count[0] == 1


def test_bucket_size_rule():
    assert [bucket_size(n) for n in (1, 2, 5, 16, 17, 33, 65, 100, 129, 193, 257)] == [
        1, 2, 6, 16, 24, 48, 96, 128, 192, 256, 320
    ]
    sizes = np.array([bucket_size(n) for n in range(1, 20_001)])
    n = np.arange(1, 20_001)
    assert np.all(sizes >= n) and np.all(np.diff(sizes) >= 0)
    assert np.all(sizes - n < 64)
    assert np.all(sizes - n <= n / 2)
    assert np.all((sizes - n)[n >= 1024] < 0.0625 * n[n >= 1024])
    assert len(set(sizes[99:200])) == 3  # n = 100, ..., 200
    assert [bucket_size(n) for n in (10**4, 10**5)] == [10048, 100032]


@pytest.mark.parametrize("method", ["permutation", "gamma"])
def test_twenty_sizes_from_100_to_200_compile_at_most_three_times(method):
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = x**2 + rng.normal(size=200)
    sizes = np.linspace(100, 200, 20).astype(int)
    assert len(set(sizes)) == 20
    with count_compilations() as count:
        for n in sizes:
            hsic.test(x[:n], y[:n], method=method, rng=int(n))
    assert count[0] <= 3


def test_a_repeated_size_does_not_compile_again():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 137))
    method = hsic.Permutation(n_resamples=50)
    hsic.test(x, y, method=method)
    with count_compilations() as count:
        hsic.test(x[:130], y[:130], method=method)  # the same padded size, 192
        hsic.test(x, y + 1.0, method="gamma")
        hsic.test(x[:131], y[:131], method="gamma")
    assert count[0] <= 1  # gamma's size, once


@pytest.mark.parametrize("n", [7, 50, 101, 129, 200])
def test_padded_permutation_test_matches_numpy_on_the_same_permutations(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3)) + 100.0  # far from 0: the distance shift must be x's mean
    y = np.abs(x[:, :1] - 100.0) + rng.normal(size=(n, 1))
    B, seed = 40, 11
    res = hsic.test(x, y, method=hsic.Permutation(n_resamples=B), rng=seed, dtype="float64")
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    source = np.random.default_rng(seed)  # the documented source of the permutations
    null = [ref.hsic_biased(K, L[np.ix_(p, p)]) for p in (source.permutation(n) for _ in range(B))]
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    observed = ref.hsic_biased(K, L)
    np.testing.assert_allclose(res.statistic, observed, rtol=1e-10)
    assert res.pvalue == (1 + np.sum(np.array(null) >= observed * (1 - 1e-9))) / (1 + B)


@pytest.mark.parametrize("kernels", [(Gaussian(), Laplace()), (Linear(), Gaussian(0.7))])
@pytest.mark.parametrize("n", [45, 150])
def test_padded_null_equals_unpadded_engine(kernels, n):
    """float32: the padded engine against the unpadded one on the same draws."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, :1] ** 2 + rng.normal(size=(n, 1))).astype(np.float32)
    kx, ky = kernels[0].fit(x), kernels[1].fit(y)
    assert bucket_size(n) > n
    statistic, null = gram_permutation_null(kx, ky, x, y, np.random.default_rng(5), 300)
    Kc, Lc, expected = centred_grams(kx, ky, x, y)
    expected_null = permutation_null(Kc, Lc, np.random.default_rng(5), 300)
    np.testing.assert_allclose(statistic, float(expected), rtol=2e-6)
    np.testing.assert_allclose(null, expected_null, rtol=2e-5, atol=1e-7 * float(expected))
    ties = 1000 * np.finfo(np.float32).eps
    assert np.sum(null >= statistic * (1 - ties)) == np.sum(expected_null >= expected * (1 - ties))


def test_padded_precomputed_kernels_match_numpy():
    rng = np.random.default_rng(8)
    n = 70
    x = rng.normal(size=(n, 1))
    y = np.sin(3 * x) + 0.3 * rng.normal(size=(n, 1))
    K = ref.gaussian_gram(x, 1.0)
    L = ref.gaussian_gram(y, 0.5)
    res = hsic.test(K, L, method=hsic.Permutation(n_resamples=30), kernel_x="precomputed",
                    kernel_y="precomputed", rng=2, dtype="float64")
    source = np.random.default_rng(2)
    null = [ref.hsic_biased(K, L[np.ix_(p, p)]) for p in (source.permutation(n) for _ in range(30))]
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    np.testing.assert_allclose(res.statistic, ref.hsic_biased(K, L), rtol=1e-10)
    gamma = hsic.test(K, L, method="gamma", kernel_x="precomputed", kernel_y="precomputed",
                      dtype="float64")
    np.testing.assert_allclose(gamma.statistic, ref.hsic_biased(K, L), rtol=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("n", [9, 100, 131])
def test_padded_centred_sums_equal_the_unpadded_ones(estimator, n):
    """The tiled sums on padded data against the sharded path, which never pads, and the
    statistic against NumPy."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2)) * 1e3 + 5e3
    y = np.cos(x[:, 1:] / 1e3) + 0.1 * rng.normal(size=(n, 1))
    with precision(np.dtype("float64")):
        _check_centred_sums(x, y, estimator, n)


def _check_centred_sums(x, y, estimator, n):
    kx, ky = Gaussian().fit(x), Laplace().fit(y)
    xp, _, _ = padded_pair(x, y, kx, ky)
    assert xp.shape[0] == bucket_size(n) > n
    unbiased = estimator == "unbiased"
    padded = centred_sums(x, y, kx, ky, estimator=estimator, algorithm="tiled")
    whole = sharded_centred_sums(kx, ky, x, y, unbiased=unbiased, rows=16, mesh=make_mesh(1))
    for got, want in zip(padded, whole, strict=True):
        np.testing.assert_allclose(float(got), float(want), rtol=1e-9, atol=1e-12 * n * n)
    dense = centred_sums(x, y, kx, ky, estimator=estimator, algorithm="dense")
    for got, want in zip(dense, whole, strict=True):
        np.testing.assert_allclose(float(got), float(want), rtol=1e-9, atol=1e-12 * n * n)
    K = np.exp(-ref.pairwise_sq_dists(x) / (2 * float(kx.bandwidth) ** 2))
    L = np.exp(-np.sqrt(ref.pairwise_sq_dists(y)) / float(ky.bandwidth))
    if unbiased:
        np.testing.assert_allclose(float(padded.kl) / (n * (n - 3)), ref.hsic_unbiased(K, L),
                                   rtol=1e-8)
    else:
        np.testing.assert_allclose(float(padded.kl) / n**2, ref.hsic_biased(K, L), rtol=1e-8)


def test_padded_permutation_test_on_a_mesh_equals_one_device():
    """With ``devices=``, the Gram matrices are computed once and replicated: the same null,
    bit for bit (2 to 4 devices: ``tests/_multidevice_check.py``)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(45, 2))
    y = np.sin(x[:, :1]) + rng.normal(size=(45, 1))
    method = hsic.Permutation(n_resamples=40, batch_size=16)
    one = hsic.test(x, y, method=method, rng=3)
    mesh = hsic.test(x, y, method=method, rng=3, devices=1)
    np.testing.assert_array_equal(mesh.null_distribution, one.null_distribution)
    assert mesh.statistic == one.statistic and mesh.pvalue == one.pvalue
