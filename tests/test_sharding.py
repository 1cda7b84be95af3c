"""Sharding over devices: meshes, the sharded statistic and null, and transfer guards.

JAX fixes its device count at start-up, so the checks on 1–4 devices run in a subprocess with
``--xla_force_host_platform_device_count=4`` (see ``_multidevice_check.py``); this process keeps
its single CPU device, on which the in-process tests use a one-device mesh.
"""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from hsic._base.devices import AXIS, check_mesh, make_mesh, resolve_mesh
from hsic._nulls import permutation as nulls
from hsic._nulls.permutation import sharded_permutation_null
from hsic._stats import gram
from hsic._stats.gram import sharded_centred_sums
from hsic.kernels import Gaussian, Precomputed

HERE = pathlib.Path(__file__).resolve().parent
N_DEVICES = 4
# Every compilation costs about a second, so the tests share shapes, and so compiled code, with
# each other and with the doctests of hsic/_stats/gram.py and hsic/_nulls/permutation.py: the
# statistic on N = 50 samples of one dimension with Gaussian kernels, in 16-row tiles (4 tiles,
# the last one mostly padding), and the null at N_NULL = 30 in batches of 8.
N, ROWS, N_NULL, BATCH = 50, 16, 30, 8


def _data(rng, n=N):
    x = rng.normal(size=(n, 1)).astype(np.float32)
    return x, x**2 + 0.5 * rng.normal(size=(n, 1)).astype(np.float32)


def _kernels(x, y):
    return Gaussian().fit(x), Gaussian().fit(y)


@pytest.fixture
def tiled(monkeypatch):
    """The single-device tiled sums in ``ROWS``-row tiles: ``gram.centred_sums`` with
    ``algorithm="tiled"`` and its tile size set to ``ROWS``."""
    monkeypatch.setattr(gram, "tile_rows", lambda n: ROWS)

    def sums(kx, ky, x, y, *, unbiased):
        estimator = "unbiased" if unbiased else "biased"
        return gram.centred_sums(x, y, kx, ky, estimator=estimator, algorithm="tiled")

    return sums


def _centred(rng):
    x, y = _data(rng, n=N_NULL)
    return gram.centred_grams(Gaussian(1.0), Gaussian(1.0), *jax.device_put((x, y)))[:2]


def _compilations(records):
    return [r.getMessage() for r in records if r.getMessage().startswith("Compiling")]


# ---- meshes ------------------------------------------------------------------------------------


def test_make_mesh_defaults_to_every_device():
    mesh = make_mesh()
    assert mesh.axis_names == (AXIS,)
    assert list(mesh.devices.flat) == jax.devices()
    assert make_mesh(1).size == 1
    assert list(make_mesh(jax.devices()[:1]).devices.flat) == jax.devices()[:1]
    assert list(make_mesh(tuple(jax.devices())).devices.flat) == jax.devices()
    assert list(make_mesh(np.array(jax.devices())).devices.flat) == jax.devices()
    one = make_mesh(jax.devices()[-1])  # one device, chosen explicitly
    assert one.size == 1 and list(one.devices.flat) == [jax.devices()[-1]]


@pytest.mark.parametrize(
    "devices, match",
    [
        ([], "must not be empty"),
        (0, "between 1 and"),
        (-1, "between 1 and"),
        (len(jax.devices()) + 1, "between 1 and"),
        (True, "must be None, a positive int"),
        (2.0, "must be None, a positive int"),
        ("cpu", "must be None, a positive int"),
        ([0], "jax.Device objects"),
        (["cpu"], "jax.Device objects"),
        (jax.devices() * 2, "more than once"),
    ],
)
def test_make_mesh_rejects_bad_devices(devices, match):
    with pytest.raises(ValueError, match=rf"`devices`.*{match}|{match}.*`devices`"):
        make_mesh(devices)


def test_check_and_resolve_mesh():
    assert check_mesh(make_mesh()) == AXIS
    two_d = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b"))
    for bad in (two_d, "devices", jax.devices()):
        with pytest.raises(ValueError, match="`mesh` must be a 1-D jax.sharding.Mesh"):
            check_mesh(bad)
    assert resolve_mesh() is None
    assert resolve_mesh(devices=1).size == 1
    mesh = make_mesh()
    assert resolve_mesh(mesh=mesh) is mesh
    with pytest.raises(ValueError, match="`devices` or `mesh`, not both"):
        resolve_mesh(devices=1, mesh=mesh)
    with pytest.raises(ValueError, match="`mesh`"):
        resolve_mesh(mesh=two_d)


# ---- one device, in process -----------------------------------------------------------------


@pytest.mark.parametrize("unbiased", [False, True])
def test_sharded_sums_on_one_device_equal_tiled_sums(rng, tiled, unbiased):
    x, y = _data(rng)
    kx, ky = _kernels(x, y)
    single = tiled(kx, ky, x, y, unbiased=unbiased)
    sums = sharded_centred_sums(kx, ky, x, y, unbiased=unbiased, rows=ROWS, mesh=make_mesh(1))
    assert isinstance(sums, gram.CentredSums)
    for name in single._fields:
        np.testing.assert_allclose(
            float(getattr(sums, name)), float(getattr(single, name)), rtol=1e-6, err_msg=name
        )


def test_sharded_sums_do_not_retrace_for_new_data_or_bandwidth(rng, caplog):
    mesh = make_mesh(1)
    x, y = _data(rng)
    sharded_centred_sums(Gaussian(1.0), Gaussian(0.5), x, y, unbiased=False, rows=ROWS, mesh=mesh)
    x2, y2 = _data(rng)
    caplog.clear()
    with caplog.at_level("WARNING"), jax.log_compiles():
        sharded_centred_sums(
            Gaussian(2.0), Gaussian(0.5), x2, y2, unbiased=False, rows=ROWS, mesh=mesh
        )
    assert _compilations(caplog.records) == []
    with caplog.at_level("WARNING"), jax.log_compiles():  # the check sees a compilation
        sharded_centred_sums(
            Gaussian(2.0), Gaussian(0.5), x2, y2, unbiased=False, rows=ROWS // 2, mesh=mesh
        )
    assert _compilations(caplog.records)


def test_sharded_sums_reject_bad_arguments(rng):
    x, y = _data(rng, n=20)
    k, mesh = Gaussian(1.0), make_mesh()
    with pytest.raises(ValueError, match="`rows` must be a positive integer"):
        sharded_centred_sums(k, k, x, y, unbiased=False, rows=0, mesh=mesh)
    with pytest.raises(ValueError, match="`kx` .*no cross Gram matrix"):
        sharded_centred_sums(Precomputed(), k, x, y, unbiased=False, rows=ROWS, mesh=mesh)
    with pytest.raises(ValueError, match="`mesh`"):
        sharded_centred_sums(k, k, x, y, unbiased=False, rows=ROWS, mesh=None)


def test_sharded_null_on_one_device_equals_permutation_null(rng):
    Kc, Lc = _centred(rng)
    expected = nulls.permutation_null(Kc, Lc, np.random.default_rng(3), 17, batch_size=BATCH)
    for batch_size, progress in ((BATCH, False), (3, False), (BATCH, True)):
        got = sharded_permutation_null(
            Kc, Lc, np.random.default_rng(3), 17, batch_size=batch_size, mesh=make_mesh(1),
            progress=progress,
        )
        np.testing.assert_array_equal(got, expected)  # whatever the batch size


# ---- several devices, in a subprocess -------------------------------------------------------


def test_two_to_four_devices_match_the_single_device_results():
    """Sums (biased, unbiased; float32, float64; padding) and the null, on 2, 3 and 4 devices
    (one device: the tests above)."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={N_DEVICES}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(HERE / "_multidevice_check.py"), str(N_DEVICES)],
        env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"passed on 2 to {N_DEVICES} devices" in proc.stdout


# ---- transfer guards: nothing moves between host and device implicitly ---------------------


def test_tiled_statistic_makes_no_implicit_transfer(rng, tiled):
    x, y = _data(rng)
    kx, ky, x, y = jax.device_put((*_kernels(x, y), x, y))
    expected = tiled(kx, ky, x, y, unbiased=False)
    with jax.transfer_guard("disallow"):
        for unbiased in (True, False):  # compiled here, or by an earlier test
            jax.block_until_ready(tiled(kx, ky, x, y, unbiased=unbiased))
        got = jax.device_get(tiled(kx, ky, x, y, unbiased=False))
    assert float(got.kl) == float(expected.kl)


def test_permutation_chunk_makes_no_implicit_transfer(rng):
    Kc, Lc = _centred(rng)
    with jax.transfer_guard("disallow"):
        # the permutations are drawn on the host; their transfer is explicit
        perms = jax.device_put(
            nulls.draw_permutations(np.random.default_rng(0), 3, N_NULL, BATCH)
        )
        Kp = nulls.pad_rows(Kc)
        chunk = jax.device_get(nulls.permuted_sums(Kp, Lc, perms))
    assert chunk.shape == (BATCH,)


def test_sharded_paths_make_only_explicit_transfers(rng, tiled):
    x, y = _data(rng)
    (kx, ky), mesh = _kernels(x, y), make_mesh()
    Kc, Lc = _centred(rng)
    expected_kl = tiled(kx, ky, x, y, unbiased=False).kl
    expected_null = nulls.permutation_null(Kc, Lc, np.random.default_rng(0), 9, batch_size=BATCH)
    with jax.transfer_guard("disallow"):
        sums = sharded_centred_sums(kx, ky, x, y, unbiased=False, rows=ROWS, mesh=mesh)
        null = sharded_permutation_null(
            Kc, Lc, np.random.default_rng(0), 9, batch_size=BATCH, mesh=mesh
        )
        kl = jax.device_get(sums.kl)
    np.testing.assert_allclose(kl, float(expected_kl), rtol=1e-6)
    np.testing.assert_array_equal(null, expected_null)


def test_permutation_null_makes_only_explicit_transfers(rng):
    Kc, Lc = _centred(rng)
    with jax.transfer_guard("disallow"):
        null = nulls.permutation_null(Kc, Lc, np.random.default_rng(0), 9, batch_size=BATCH)
    assert null.shape == (9,)


def test_transfer_guard_catches_an_implicit_transfer():
    """The guard is live in this process: the checks above are not vacuous."""
    with jax.transfer_guard("disallow"), pytest.raises(RuntimeError, match="[Dd]isallowed"):
        jax.jit(jnp.sum)(np.ones(3))  # a NumPy argument: an implicit host-to-device copy
