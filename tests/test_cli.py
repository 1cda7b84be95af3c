"""Tests of the ``hsic`` command line (hsic/cli.py) and its file reader (hsic/_base/io.py)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import hsic
from hsic._base.io import DataFileError, read_table
from hsic.cli import main

N = 30  # one n and one B everywhere, so that compiled functions are reused
B = 100


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 2))
    y = x[:, :1] ** 2 + 0.3 * rng.normal(size=(N, 1))
    return x, y


@pytest.fixture
def files(tmp_path, xy):
    """x as CSV with a header, y as TSV without one and as .npy."""
    x, y = xy
    paths = {"x.csv": tmp_path / "x.csv", "y.tsv": tmp_path / "y.tsv", "y.npy": tmp_path / "y.npy"}
    np.savetxt(paths["x.csv"], x, delimiter=",", header="a,b", comments="")
    np.savetxt(paths["y.tsv"], y, delimiter="\t")
    np.save(paths["y.npy"], y)
    return {name: str(path) for name, path in paths.items()}


def run(capsys, *argv):
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(status, out, err, *fragments):
    assert status == 2
    assert out == ""
    assert err.startswith("hsic: error: ")
    assert err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["permutation", "gamma"])
@pytest.mark.parametrize("y_file", ["y.tsv", "y.npy"])
def test_json_matches_direct_call(capsys, files, xy, method, y_file):
    status, out, err = run(
        capsys,
        "test",
        files["x.csv"],
        files[y_file],
        "--json",
        "--method",
        method,
        "--permutations",
        B,
        "--seed",
        3,
    )
    assert status == 0, err
    assert err == ""  # no progress bar with --json or off a terminal
    got = json.loads(out)
    if method == "permutation":
        method = hsic.Permutation(n_resamples=B)
    expected = hsic.test(*xy, method=method, rng=3)
    assert got == json.loads(json.dumps(expected.to_dict()))
    assert got["pvalue"] == expected.pvalue
    assert got["n"] == N and got["method"] == expected.method


def test_seed_is_honoured(capsys, tmp_path, files, xy):
    x = np.random.default_rng(5).normal(size=(N, 1))  # independent of y: p is not saturated
    np.save(tmp_path / "x.npy", x)
    pvalues = []
    for seed in (1, 2):
        _, out, _ = run(
            capsys,
            "test",
            tmp_path / "x.npy",
            files["y.npy"],
            "--json",
            "--permutations",
            B,
            "--seed",
            seed,
        )
        pvalues.append(json.loads(out)["pvalue"])
        assert pvalues[-1] == hsic.test(x, xy[1], method=hsic.Permutation(n_resamples=B),
                                        rng=seed).pvalue
    assert pvalues[0] != pvalues[1]


@pytest.mark.parametrize(
    ("alpha", "verdict"),
    [
        ("0.05", "<= alpha = 0.05: reject independence"),
        ("0.01", "> alpha = 0.01: no evidence of dependence"),
    ],
)
def test_human_output(capsys, files, xy, alpha, verdict):
    status, out, err = run(
        capsys, "test", files["x.csv"], files["y.npy"], "--permutations", B, "--alpha", alpha
    )
    assert status == 0, err
    res = hsic.test(*xy, method=hsic.Permutation(n_resamples=B), rng=0)
    assert 0.01 < res.pvalue <= 0.05  # so that both verdicts are exercised
    assert f"pvalue     = {res.pvalue:.4g}" in out
    assert f"X: {files['x.csv']} ({N} samples, 2 columns)" in out
    assert f"p = {res.pvalue:.4g} {verdict}" in out


def test_kernel_and_bandwidth_options(capsys, files, xy):
    status, out, err = run(
        capsys,
        "test",
        files["x.csv"],
        files["y.npy"],
        "--json",
        "--method",
        "gamma",
        "--kernel-x",
        "Laplace",
        "--bandwidth-x",
        2.5,
        "--kernel-y",
        "linear",
    )
    assert status == 0, err
    got = json.loads(out)
    assert got["kernel_x"] == {"name": "laplace", "bandwidth": 2.5, "factor": 1.0}
    assert got["kernel_y"] == {"name": "linear"}
    kx = hsic.kernels.Laplace(bandwidth=2.5)
    assert got["pvalue"] == hsic.test(*xy, method="gamma", kernel_x=kx, kernel_y="linear").pvalue


@pytest.mark.parametrize(
    ("tty", "json_flag", "progress"),
    [
        (True, False, True),
        (True, True, False),
        (False, False, False),
    ],
)
def test_progress_bar_only_on_a_terminal(capsys, monkeypatch, files, tty, json_flag, progress):
    calls = []
    real_test = hsic.test

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_test(*args, **{**kwargs, "progress": False})

    monkeypatch.setattr(hsic, "test", spy)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    argv = ["test", files["x.csv"], files["y.npy"], "--permutations", B]
    status, _, _ = run(capsys, *argv, *(["--json"] if json_flag else []))
    assert status == 0
    assert calls[0]["progress"] is progress


def test_warnings_are_one_line(capsys, tmp_path, files):
    x = np.r_[np.zeros(N - 5), np.arange(1.0, 6.0)]  # median distance 0: bandwidth fallback
    np.save(tmp_path / "dup.npy", x)
    status, out, err = run(capsys, "test", tmp_path / "dup.npy", files["y.npy"], "--json")
    assert status == 0
    assert err.startswith("hsic: warning: The median distance between samples of `x` is 0")
    assert err.count("\n") == 1
    json.loads(out)


def test_entry_point_in_a_subprocess(files):
    """``python -m hsic`` works, and prints no progress bar when its output is piped."""
    package_root = pathlib.Path(hsic.__file__).parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(package_root), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hsic",
            "test",
            files["x.csv"],
            files["y.tsv"],
            "--permutations",
            str(B),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["info"]["n_resamples"] == B


def test_startup_leaves_slow_scipy_modules_unimported():
    """``import hsic`` and the CLI's parser defer scipy.signal and scipy.stats (together ~3 s
    of start-up on this machine) to the functions that use them."""
    package_root = pathlib.Path(hsic.__file__).parent.parent
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import hsic.cli; hsic.cli.build_parser(); "
        "print([m for m in ('scipy.signal', 'scipy.stats') if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(package_root)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- user errors: one line on stderr, exit status 2 -------------------------------------------


def test_missing_file(capsys, files, tmp_path):
    missing = tmp_path / "nope.csv"
    err = run(capsys, "test", missing, files["y.npy"])
    assert_user_error(*err, f"{missing}: cannot read the file: No such file or directory")


def test_ragged_row(capsys, files, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8\n")
    assert_user_error(
        *run(capsys, "test", path, files["y.npy"]), f"{path}, line 4: expected 3 values, got 2"
    )


def test_non_numeric_cell(capsys, files, tmp_path):
    path = tmp_path / "text.tsv"
    path.write_text("1\t2\n3\tabc\n")
    assert_user_error(
        *run(capsys, "test", files["x.csv"], path),
        f"{path}, line 2, column 2: 'abc' is not a number",
    )


def test_nan_cell(capsys, files, tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("x\n1\n2\nNaN\n")
    assert_user_error(*run(capsys, "test", path, files["y.npy"]), f"{path}, line 4, column 1")


def test_nan_in_npy(capsys, files, tmp_path, xy):
    y = xy[1].copy()
    y[7] = np.nan
    np.save(tmp_path / "nan.npy", y)
    assert_user_error(*run(capsys, "test", files["x.csv"], tmp_path / "nan.npy"), "row 7")


def test_pickled_npy_is_refused(capsys, files, tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": i} for i in range(N)], dtype=object), allow_pickle=True)
    assert_user_error(*run(capsys, "test", files["x.csv"], path), f"{path}:", "refused")


def test_mismatched_n(capsys, files, tmp_path, xy):
    np.save(tmp_path / "short.npy", xy[1][:-3])
    assert_user_error(
        *run(capsys, "test", files["x.csv"], tmp_path / "short.npy"),
        f"has {N} samples but {tmp_path / 'short.npy'} has {N - 3}",
    )


def test_errors_of_hsic_test_become_one_line(capsys, files, tmp_path):
    np.save(tmp_path / "const.npy", np.ones(N))
    status, out, err = run(capsys, "test", files["x.csv"], tmp_path / "const.npy")
    assert status == 2 and out == ""
    last = err.splitlines()[-1]  # after the bandwidth warning
    assert last.startswith("hsic: error: `y` is constant")
    assert "Traceback" not in err


def test_bandwidth_needs_a_bandwidth_kernel(capsys, files):
    argv = ["test", files["x.csv"], files["y.npy"], "--kernel-x", "linear", "--bandwidth-x", 1]
    assert_user_error(*run(capsys, *argv), "--bandwidth-x applies to the gaussian and laplace")


@pytest.mark.parametrize(
    "option",
    [
        ["--permutations", "0"],
        ["--seed", "-1"],
        ["--alpha", "1.5"],
        ["--bandwidth-y", "nan"],
        ["--method", "bootstrap"],
        ["--kernel-x", "cosine"],
    ],
)
def test_bad_options_are_usage_errors(capsys, files, option):
    status, out, err = run(capsys, "test", files["x.csv"], files["y.npy"], *option)
    assert status == 2 and out == ""
    assert f"error: argument {option[0]}" in err
    assert "Traceback" not in err


# --- reading files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x,y\n1,2\n3,4\n", [[1, 2], [3, 4]]),  # header
        ("1,2\n3,4\n\n\n", [[1, 2], [3, 4]]),  # no header, trailing blank lines
        ('"x"\n-1.5\n2e3\n', [[-1.5], [2000]]),  # one quoted column
        ("\ufeffa, b\n 1 , 2\n", [[1, 2]]),  # byte-order mark, spaces
    ],
)
def test_read_table_text(tmp_path, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    got = read_table(path)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_read_table_npy_shapes(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(4))
    np.save(tmp_path / "b.npy", np.ones((3, 2), dtype=np.float32))
    assert read_table(tmp_path / "a.npy").shape == (4, 1)
    assert read_table(tmp_path / "b.npy").dtype == np.float64


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("h.csv", "a,b\n", "no data rows"),
        ("e.csv", "1,2\n3,\n", "line 2, column 2: empty value"),
        ("n.csv", "a,2\n1,2\n", "line 1, column 1: 'a' is not a number .a header row"),
        ("f.txt", "1\n", "unsupported file type '.txt'"),
        ("s.npy", b"\x93NUMPY garbage", "not a plain .npy array"),
    ],
)
def test_read_table_errors(tmp_path, name, content, match):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(DataFileError, match=match) as info:
        read_table(path)
    assert str(info.value).startswith(str(path))


# --- version, help and demo ------------------------------------------------------------------


def test_version(capsys):
    assert run(capsys, "--version")[:2] == (0, f"hsic {hsic.__version__}\n")


@pytest.mark.parametrize("command", [[], ["test"], ["demo"]])
def test_help(capsys, command):
    status, out, _ = run(capsys, *command, "--help")
    assert status == 0
    assert out.startswith(f"usage: hsic {command[0] if command else ''}".rstrip())


def test_no_command_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == 2 and "required" in err


def test_demo(capsys):
    status, out, err = run(capsys, "demo")
    assert status == 0, err
    assert "uncorrelated" in out
    assert "reject independence" in out
    x, y = hsic.load_example("ring")
    assert f"pvalue     = {hsic.test(x, y, rng=0).pvalue:.4g}" in out


def test_demo_independent_json(capsys):
    status, out, _ = run(capsys, "demo", "--example", "independent", "--json")
    assert status == 0
    assert json.loads(out)["pvalue"] == hsic.test(*hsic.load_example("independent"), rng=0).pvalue
