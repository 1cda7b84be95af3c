"""Multi-device checks of the sharded sums and nulls, run in a subprocess by ``test_sharding.py``.

JAX fixes its device count when it starts, so this script runs in a fresh interpreter with
``XLA_FLAGS=--xla_force_host_platform_device_count=N JAX_PLATFORMS=cpu``::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu \\
        python tests/_multidevice_check.py 4

On meshes of 2 to N devices it asserts that the sharded tiled sums equal the single-device
tiled sums (biased and unbiased; n not a multiple of tiles × devices; a mesh where a
device gets only padding; devices in reverse order; float64), and that the sharded permutation
null equals ``permutation_null`` exactly (and so gives the same p-value), also with another
batch size; and that the RFF, Nyström and block tests and estimators give the single-device
results. One device is checked in process. Importing this file runs nothing.
"""

import sys


def check_sums(n_devices: int) -> None:
    import jax
    import numpy as np

    from hsic._base.devices import make_mesh
    from hsic._stats import gram
    from hsic._stats.gram import centred_sums, sharded_centred_sums
    from hsic.kernels import Gaussian, Linear

    # Each case is a fresh compilation (about a second), so the cases are few, and each device
    # count gets both estimators once; one device is checked in process. n = 37 in 8-row
    # tiles: 5 tiles (the last one part padding), padded to 6, 6 and 8 tiles on 2, 3 and 4
    # devices, so on 4 devices the last device holds only padding. The last case runs on the
    # devices in reverse order.
    three, last = min(3, n_devices), n_devices
    cases = [(np.float32, False, 2), (np.float32, True, 2), (np.float64, False, three),
             (np.float32, True, three), (np.float32, False, last), (np.float32, True, last)]
    rng = np.random.default_rng(0)
    n, rows = 37, 8
    tile_rows = gram.tile_rows
    gram.tile_rows = lambda n: rows  # the single-device tiled sums, in the same 8-row tiles
    try:
        for i, (dtype, unbiased, d) in enumerate(cases):
            with jax.enable_x64(dtype == np.float64):
                x = rng.normal(size=(n, 2)).astype(dtype)
                y = (x[:, :1] ** 2 + 0.5 * rng.normal(size=(n, 1))).astype(dtype)
                kx, ky = Gaussian().fit(x), Linear()
                estimator = "unbiased" if unbiased else "biased"
                single = centred_sums(x, y, kx, ky, estimator=estimator, algorithm="tiled")
                mesh = make_mesh(jax.devices()[d - 1 :: -1] if i == len(cases) - 1 else d)
                sums = sharded_centred_sums(
                    kx, ky, x, y, unbiased=unbiased, rows=rows, mesh=mesh
                )
                assert sums.kl.sharding.device_set == set(mesh.devices.flat)
                assert sums.kl.dtype == dtype
                rtol = 1e-5 if dtype == np.float32 else 1e-12
                for name in single._fields:
                    np.testing.assert_allclose(
                        float(getattr(sums, name)), float(getattr(single, name)),
                        rtol=rtol, atol=rtol * 1e-2,
                        err_msg=f"{name}: {dtype.__name__}, unbiased={unbiased}, "
                        f"{mesh.size} devices",
                    )
    finally:
        gram.tile_rows = tile_rows


def check_null(n_devices: int) -> None:
    import numpy as np

    from hsic._base.devices import make_mesh
    from hsic._nulls.permutation import permutation_null, sharded_permutation_null
    from hsic._nulls.pvalues import permutation_pvalue
    from hsic._stats.gram import centred_grams
    from hsic.kernels import Gaussian

    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 1)).astype(np.float32)
    y = x**2 + rng.normal(size=(30, 1)).astype(np.float32)
    Kc, Lc, observed = centred_grams(Gaussian(1.0), Gaussian(1.0), x, y)
    expected = permutation_null(Kc, Lc, np.random.default_rng(7), 23, batch_size=10)
    # 10 permutations a batch: 10 or 12 rows once padded; 4 a batch: 6 rows on 3 devices
    cases = [(d, 10) for d in range(2, n_devices + 1)] + [(min(3, n_devices), 4)]
    for d, batch_size in cases:
        got = sharded_permutation_null(
            Kc, Lc, np.random.default_rng(7), 23, batch_size=batch_size, mesh=make_mesh(d)
        )
        assert got.dtype == expected.dtype and got.shape == (23,)
        np.testing.assert_array_equal(got, expected, err_msg=f"{d} devices, {batch_size}")
        pvalue = permutation_pvalue(got, float(observed))
        assert pvalue == permutation_pvalue(expected, float(observed))


def check_api(n_devices: int) -> None:
    """The public functions give the single-device result with ``devices=``."""
    import numpy as np

    import hsic

    rng = np.random.default_rng(2)
    x = rng.normal(size=(45, 2))
    y = np.sin(x[:, :1]) + rng.normal(size=(45, 1))
    for fn in (hsic.hsic, hsic.nhsic):
        np.testing.assert_allclose(
            float(fn(x, y, devices=n_devices)), float(fn(x, y)), rtol=1e-5
        )
    for method in ("permutation", "gamma"):
        if method == "permutation":
            method = hsic.Permutation(n_resamples=50)
        one = hsic.test(x, y, method=method, rng=3)
        many = hsic.test(x, y, method=method, rng=3, devices=n_devices)
        np.testing.assert_allclose(many.pvalue, one.pvalue, rtol=1e-5)
        if one.method == "permutation":
            np.testing.assert_array_equal(many.null_distribution, one.null_distribution)


def check_large_scale(n_devices: int) -> None:
    """The feature and block tests give the single-device result with ``devices=``: the
    feature sums over rows split unevenly (n = 203), the permutations split, the blocks padded
    to a multiple of the device count (n = 203 in 10 blocks of 20, so 3 devices get padding)."""
    import numpy as np

    import hsic

    rng = np.random.default_rng(4)
    x = rng.normal(size=(203, 2))
    y = np.sin(x[:, :1]) + rng.normal(size=(203, 1))
    for d in (n_devices,):
        for method, estimator_options in [
            (hsic.RFF(n_features=20), dict(n_features=20)),
            (hsic.Nystrom(n_features=15, null="permutation", n_resamples=30),
             dict(n_features=15)),
            (hsic.Block(size=20), dict(block_size=20)),
        ]:
            one = hsic.test(x, y, method=method, rng=3)
            many = hsic.test(x, y, method=method, rng=3, devices=d)
            np.testing.assert_allclose(many.statistic, one.statistic, rtol=1e-5)
            np.testing.assert_allclose(many.pvalue, one.pvalue, rtol=1e-5)
            if one.null_distribution is not None:
                np.testing.assert_allclose(
                    many.null_distribution, one.null_distribution, rtol=1e-4
                )
            estimator = dict(estimator=method.name, rng=3, **estimator_options)
            np.testing.assert_allclose(
                float(hsic.hsic(x, y, devices=d, **estimator)),
                float(hsic.hsic(x, y, **estimator)), rtol=1e-5,
            )


def main(n_devices: int) -> None:
    import jax

    assert len(jax.devices()) == n_devices, jax.devices()
    check_sums(n_devices)
    check_null(n_devices)
    check_api(n_devices)
    check_large_scale(n_devices)
    print(f"multi-device checks passed on 2 to {n_devices} devices")


if __name__ == "__main__":
    main(int(sys.argv[1]))
