"""The conventions users bring from scipy and ML tooling (issue 18): randomness as in SPEC 7
(``rng`` takes None, an int, a Generator or a JAX key; None's fresh seed is recorded and
repeats the run), one ``progress`` rule, case-insensitive method and kernel names, shipped
types (``py.typed``), lazy ``hsic.mi``/``hsic.bottleneck``, and Nyström's default landmarks."""

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import hsic
from hsic._base import progress as _progress
from hsic._base.rng import as_generator, as_key, seed_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(rng):
    z = rng.normal(size=80)
    return z + 0.5 * rng.normal(size=80), z + 0.5 * rng.normal(size=80), z, rng.normal(size=80)


def _calls(data):
    """Each public test with a random null, as ``rng -> result``."""
    x, y, z, w = data  # w: independent of the others (its p-values vary with the draws)
    perm = hsic.Permutation(n_resamples=49)
    return {
        "test": lambda rng: hsic.test(x, y, method=perm, rng=rng),
        "test-nystrom": lambda rng: hsic.test(x, y, method="nystrom", rng=rng),
        "joint_test": lambda rng: hsic.joint_test([x, y, z], method=perm, rng=rng),
        "conditional_test": lambda rng: hsic.conditional_test(
            x, y, z, method=hsic.RCIT(null="simulated", n_resamples=200), rng=rng
        ),
        "pairwise": lambda rng: hsic.pairwise(np.c_[x, y, z, w], method=perm, rng=rng),
    }


def _same(a, b) -> bool:
    one = np.asarray(a.null_distribution if a.null_distribution is not None else a.pvalue)
    two = np.asarray(b.null_distribution if b.null_distribution is not None else b.pvalue)
    return bool(np.array_equal(one, two, equal_nan=True)) and np.array_equal(
        a.statistic, b.statistic, equal_nan=True
    )


# --------------------------------------------------------------------------------------------
# Randomness (SPEC 7)
# --------------------------------------------------------------------------------------------


def test_rng_none_is_fresh_and_its_recorded_seed_repeats_the_run(data):
    for name, call in _calls(data).items():
        first, second = call(None), call(None)
        seed = first.info["rng"]
        assert isinstance(seed, int) and 0 <= seed < 2**64, name
        assert seed != second.info["rng"], name
        assert not _same(first, second), name  # fresh entropy: other draws
        again = call(seed)
        assert _same(first, again) and again.info["rng"] == seed, name
        assert first.to_dict()["info"]["rng"] == seed  # JSON-ready


def test_int_key_and_generator_are_accepted_everywhere(data):
    for name, call in _calls(data).items():
        by_int = call(7)
        assert by_int.info["rng"] == 7
        # a JAX key is the int of its two data words: key(7) gives the int 7's result
        assert _same(call(jax.random.key(7)), by_int), name
        assert _same(call(jax.random.PRNGKey(7)), by_int), name
        # a Generator: a seed is drawn from it (recorded), so it advances between calls
        gen = np.random.default_rng(3)
        a, b = call(gen), call(gen)
        expected = int(np.random.default_rng(3).integers(0, 2**64, dtype=np.uint64))
        assert a.info["rng"] == expected and b.info["rng"] != expected, name
        assert _same(call(expected), a), name


def test_as_generator_and_as_key_take_the_same_four_kinds():
    big = 2**40 + 5  # past 32 bits: jax.random.key without x64 would drop the high word
    assert seed_of(jax.random.key(3)) == 3 and seed_of(big) == big
    words = np.asarray(jax.random.key_data(as_key(big)))
    assert words.tolist() == [big >> 32, big % 2**32]
    assert seed_of(as_key(big)) == big
    for rng in (0, big, jax.random.key(5), np.random.default_rng(1)):
        assert isinstance(as_generator(rng), np.random.Generator)
        assert jax.dtypes.issubdtype(as_key(rng).dtype, jax.dtypes.prng_key)
    # the int and its key: the same NumPy stream and the same JAX key
    assert as_generator(jax.random.key(9)).integers(1 << 30) == as_generator(9).integers(1 << 30)
    np.testing.assert_array_equal(
        jax.random.key_data(as_key(9)), jax.random.key_data(jax.random.key(9))
    )
    # a Generator as a key: a seed drawn from it
    seed = int(np.random.default_rng(4).integers(0, 2**64, dtype=np.uint64))
    np.testing.assert_array_equal(
        jax.random.key_data(as_key(np.random.default_rng(4))), jax.random.key_data(as_key(seed))
    )
    # None: fresh each time, for both
    assert as_generator(None).integers(1 << 62) != as_generator(None).integers(1 << 62)
    assert seed_of(as_key(None)) != seed_of(as_key(None))
    for bad in (-1, 2**64, "0", 1.5, True):
        with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer \(below"):
            seed_of(bad)


def test_public_rng_defaults_are_none():
    import hsic.bottleneck
    import hsic.mi

    functions = [
        hsic.test, hsic.joint_test, hsic.conditional_test, hsic.pairwise, hsic.mi.compare,
        hsic.mi.infonce, hsic.mi.nwj, hsic.mi.mine, hsic.mi.smile, hsic.bottleneck.train,
        hsic.bottleneck.train_backprop,
    ]
    for function in functions:
        assert inspect.signature(function).parameters["rng"].default is None, function


# --------------------------------------------------------------------------------------------
# progress, names
# --------------------------------------------------------------------------------------------


def test_progress_rule(monkeypatch):
    assert _progress.resolve_progress(True, 0) and not _progress.resolve_progress(False, 1e30)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not _progress.resolve_progress(None, 1e30)  # not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert _progress.resolve_progress(None, _progress.LONG_WORK)
    assert not _progress.resolve_progress(None, _progress.LONG_WORK / 2)  # short work
    with pytest.raises(ValueError, match=r"`progress` must be True, False or None \(auto\)"):
        _progress.resolve_progress("yes")
    for function in (hsic.test, hsic.joint_test, hsic.conditional_test, hsic.pairwise):
        assert inspect.signature(function).parameters["progress"].default is None, function


def test_progress_auto_shows_a_bar_on_a_terminal_for_long_work(data, capsys, monkeypatch):
    x, y, z, _ = data
    monkeypatch.setattr(_progress, "LONG_WORK", 1.0)  # everything counts as long
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    perm = hsic.Permutation(n_resamples=20)
    runs = {
        "permutations": lambda: hsic.test(x, y, method=perm),
        "wild bootstrap": lambda: hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=20)),
        "joint_test (permutation)": lambda: hsic.joint_test([x, y, z], method=perm),
        "pairwise": lambda: hsic.pairwise(np.c_[x, y, z], method=perm),
        "conditional_test (kci)": lambda: hsic.conditional_test(x, y, z),
    }
    for label, run in runs.items():
        capsys.readouterr()
        run()
        assert label in capsys.readouterr().err, label
    # the aggregated test labels its two stages
    hsic.test(x, y, method=hsic.Aggregated(n_resamples=20, n_resamples_level=10))
    err = capsys.readouterr().err
    assert "aggregated, stage 1/2" in err and "aggregated, stage 2/2" in err
    # short work on a terminal, or progress=False: no bar
    monkeypatch.setattr(_progress, "LONG_WORK", 1e30)
    hsic.test(x, y, method=perm)
    hsic.test(x, y, method=perm, progress=False)
    assert "permutations" not in capsys.readouterr().err


def test_method_and_kernel_names_are_case_insensitive(data):
    x, y, z, _ = data
    gamma = hsic.test(x, y, method="gamma")
    for method, kernel in (("Gamma", "Gaussian"), ("GAMMA", "gaussian"), ("gamma", "GAUSSIAN")):
        res = hsic.test(x, y, method=method, kernel_x=kernel, kernel_y=kernel)
        assert res.method == "gamma" and res.pvalue == gamma.pvalue
    assert hsic.joint_test([x, y], method="Gamma").method == "gamma"
    assert hsic.conditional_test(x, y, z, method="KCI").method == "kci"
    assert hsic.pairwise(np.c_[x, y], method="Gamma", kernel_x="Laplace").method == "gamma"


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------


def test_nystrom_default_landmarks_are_min_100_n(rng):
    assert hsic.Nystrom().n_features is None
    small = rng.normal(size=(60, 2))
    res = hsic.test(small[:, 0], small[:, 1], method="nystrom", rng=0)
    assert res.info["n_features"] == 60
    explicit = hsic.test(small[:, 0], small[:, 1], method=hsic.Nystrom(n_features=60), rng=0)
    assert res.statistic == explicit.statistic and res.pvalue == explicit.pvalue
    big = rng.normal(size=(300, 2))
    assert hsic.test(big[:, 0], big[:, 1], method="nystrom", rng=0).info["n_features"] == 100
    # the statistic alone: the same default
    assert float(hsic.hsic(small[:, 0], small[:, 1], estimator="nystrom", rng=0)) == float(
        hsic.hsic(small[:, 0], small[:, 1], estimator="nystrom", n_features=60, rng=0)
    )


# --------------------------------------------------------------------------------------------
# Typing and imports
# --------------------------------------------------------------------------------------------


def test_py_typed_is_shipped():
    assert (ROOT / "hsic" / "py.typed").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^hsic = \[.*"py\.typed".*\]', section, re.M), section


def test_public_functions_are_annotated():
    for name in hsic.__all__:
        obj = getattr(hsic, name)
        if not inspect.isfunction(obj):
            continue
        sig = inspect.signature(obj)
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, (name, param.name)


def test_import_hsic_is_lazy_about_mi_and_bottleneck():
    code = textwrap.dedent(
        """
        import sys
        import hsic
        assert "hsic.mi" not in sys.modules and "hsic.bottleneck" not in sys.modules
        assert "optax" not in sys.modules
        assert "mi" in dir(hsic) and "bottleneck" in dir(hsic)
        x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(200, rng=0)
        assert "hsic.mi" in sys.modules and "hsic.bottleneck" not in sys.modules
        assert 0.2 < hsic.mi.ksg(x, y) < 0.8
        assert callable(hsic.bottleneck.train) and "hsic.bottleneck" in sys.modules
        try:
            hsic.not_a_module
        except AttributeError as err:
            assert "not_a_module" in str(err)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.slow
def test_mypy_resolves_the_public_types(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    script = tmp_path / "user.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import hsic

            x = np.linspace(0.0, 1.0, 20)
            res = hsic.test(x, x**2, rng=None)
            reveal_type(res)
            reveal_type(hsic.joint_test([x, x]))
            reveal_type(hsic.mi.ksg)
            hsic.test(x, x, rng="seed")
            """
        )
    )
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    stdout, _, _ = api.run(
        [str(script), "--cache-dir", str(tmp_path / "cache"), "--follow-imports=silent"]
    )
    assert 'Revealed type is "hsic._api.results.HSICTestResult"' in stdout
    assert 'Revealed type is "hsic._api.results.JointTestResult"' in stdout
    assert "-> float" in stdout  # hsic.mi.ksg, reached through the lazy attribute
    assert 'Argument "rng" to "test" has incompatible type "str"' in stdout
