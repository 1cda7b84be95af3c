"""The permutation engine (``hsic._nulls.permutation``) against a NumPy transcription.

The engine sums each permuted statistic over half of the symmetric matrix
``M_ij = K̄_ij L̄_{p(i)p(j)}`` (weighted cyclic windows, see ``pad_rows``); these tests hold it
to the definition, ``Σ_ij K̄_ij L̄_{p(i)p(j)} = sum(K̄ * L̄[p][:, p])`` in float64 NumPy, on
the same permutations, and check that neither the batch size nor the device count changes
a single bit of the null.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hsic
from hsic._nulls.permutation import (
    draw_permutations,
    gram_permutation_null,
    pad_rows,
    permutation_null,
    permuted_stack_sums,
    permuted_sums,
)
from hsic._stats.gram import centred_grams
from hsic.kernels import Gaussian

HERE = Path(__file__).resolve().parent


def _symmetric(rng, *shape):
    a = rng.normal(size=shape)
    return a + np.swapaxes(a, -1, -2)


def _numpy_sums(K, L, perms):
    """The definition, transcribed: ``sum(K * L[p][:, p])`` for each permutation, float64."""
    return np.array([np.sum(K * L[p][:, p]) for p in perms])


# n = 1 … 3 (a block larger than the matrix), odd and even n (with and without the middle
# diagonal d = n/2), n not a multiple of the 32-row block, and one past two blocks.
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 6, 31, 32, 45, 65])
def test_permuted_sums_equal_the_numpy_transcription(seed, n):
    rng = np.random.default_rng(seed)
    K, L = _symmetric(rng, n, n), _symmetric(rng, n, n)
    perms = np.stack([rng.permutation(n) for _ in range(5)]).astype(np.int32)
    expected = _numpy_sums(K, L, perms)
    got = np.asarray(permuted_sums(pad_rows(jnp.asarray(K, jnp.float32)),
                                   jnp.asarray(L, jnp.float32), jnp.asarray(perms)))
    scale = np.abs(K).sum() * np.abs(L).max()  # float32 rounding of a sum of n² terms
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * scale)


def test_float64_sums_agree_to_float64_rounding(rng):
    n = 57
    K, L = _symmetric(rng, n, n), _symmetric(rng, n, n)
    perms = np.stack([rng.permutation(n) for _ in range(4)]).astype(np.int32)
    with jax.enable_x64():
        got = np.asarray(permuted_sums(pad_rows(jnp.asarray(K)), jnp.asarray(L),
                                       jnp.asarray(perms)))
    np.testing.assert_allclose(got, _numpy_sums(K, L, perms), rtol=1e-12, atol=1e-10)


def test_stack_sums_equal_the_numpy_transcription_for_every_pair(rng):
    """The many-pair form (``pairwise``, the aggregated test): every (a, b) pair."""
    n = 40
    Ks, Ls = _symmetric(rng, 3, n, n), _symmetric(rng, 2, n, n)
    perms = np.stack([rng.permutation(n) for _ in range(4)]).astype(np.int32)
    got = np.asarray(permuted_stack_sums(pad_rows(jnp.asarray(Ks, jnp.float32)),
                                         jnp.asarray(Ls, jnp.float32), jnp.asarray(perms)))
    assert got.shape == (4, 3, 2)
    for a in range(3):
        for b in range(2):
            expected = _numpy_sums(Ks[a], Ls[b], perms)
            np.testing.assert_allclose(got[:, a, b], expected, rtol=0,
                                       atol=1e-6 * np.abs(Ks[a]).sum() * np.abs(Ls[b]).max())


def test_gram_matrices_that_are_symmetric_only_to_rounding(rng):
    """Centred Gram matrices are symmetric to the last bits only (row and column means are
    summed in different orders): the engine symmetrises K̄, so the sums still agree."""
    n = 50
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, :1] ** 2 + rng.normal(size=(n, 1))).astype(np.float32)
    K, L, _ = centred_grams(Gaussian(1.0), Gaussian(1.0), x, y)
    K, L = np.asarray(K), np.asarray(L)
    K_skew = K + 1e-6 * np.triu(rng.normal(size=(n, n)), 1)  # one triangle nudged
    perms = np.stack([rng.permutation(n) for _ in range(6)]).astype(np.int32)
    for Kx in (K, K_skew):
        expected = _numpy_sums(Kx.astype(np.float64), L.astype(np.float64), perms)
        got = np.asarray(permuted_sums(pad_rows(jnp.asarray(Kx)), jnp.asarray(L),
                                       jnp.asarray(perms)))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_padded_null_equals_the_numpy_null_on_the_same_draws(rng):
    """``gram_permutation_null`` (data padded to 64 rows, the true n traced) against NumPy on
    the permutations ``draw_permutations`` gives for the same seed."""
    n, B = 53, 40
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.3 * rng.normal(size=(n, 1))).astype(np.float32)
    k = Gaussian(1.2)
    stat, null = gram_permutation_null(k, k, x, y, np.random.default_rng(9), B, batch_size=16)
    K, L, ref = centred_grams(k, k, x, y)
    perms = draw_permutations(np.random.default_rng(9), B, n, B)
    expected = _numpy_sums(np.asarray(K, np.float64), np.asarray(L, np.float64), perms) / n**2
    np.testing.assert_allclose(null, expected, rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(stat, float(ref), rtol=1e-5)


@pytest.mark.parametrize("n", [30, 100])
def test_the_batch_size_changes_no_bit_of_the_null(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2))
    y = x[:, :1] ** 2 + rng.normal(size=(n, 1))
    results = [hsic.test(x, y, method=hsic.Permutation(n_resamples=97, batch_size=b), rng=4)
               for b in (1, 13, 97, 250)]
    for res in results[1:]:
        np.testing.assert_array_equal(res.null_distribution, results[0].null_distribution)
        assert res.pvalue == results[0].pvalue
    K, L, _ = centred_grams(Gaussian(1.0), Gaussian(1.0), x.astype(np.float32),
                            y.astype(np.float32))
    nulls = [permutation_null(K, L, np.random.default_rng(2), 50, batch_size=b)
             for b in (1, 7, 50)]
    for other in nulls[1:]:
        np.testing.assert_array_equal(other, nulls[0])


_TWO_DEVICES = r"""
import json, sys
import jax, numpy as np
import hsic
assert jax.device_count() == 2, jax.devices()
rng = np.random.default_rng(0)
x = rng.normal(size=(45, 2)); y = x[:, :1] ** 2 + rng.normal(size=(45, 1))
out = {}
for devices in (None, 2):
    res = hsic.test(x, y, method=hsic.Permutation(n_resamples=60, batch_size=16), rng=5,
                    devices=devices)
    out[str(devices)] = [float(res.pvalue).hex()] + [float(v).hex()
                                                     for v in res.null_distribution]
print(json.dumps(out))
"""


def test_two_devices_change_no_bit_of_the_null():
    """The same test on 1 device in this process and on 1 and 2 devices in a subprocess with
    ``--xla_force_host_platform_device_count=2``: the same null and p-value, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(45, 2))
    y = x[:, :1] ** 2 + rng.normal(size=(45, 1))
    here = hsic.test(x, y, method=hsic.Permutation(n_resamples=60, batch_size=16), rng=5)
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                        + " --xla_force_host_platform_device_count=2").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-W", "error", "-c", _TWO_DEVICES], env=env,
                          cwd=HERE.parent, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = [float(here.pvalue).hex()] + [float(v).hex() for v in here.null_distribution]
    assert got["None"] == expected
    assert got["2"] == expected
