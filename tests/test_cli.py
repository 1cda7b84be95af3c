"""Tests of the ``hsic`` command line (hsic/cli.py) and its file reader (hsic/_base/io.py)."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import hsic
from hsic._api.test import METHODS
from hsic._base.io import DataFileError, load_table, read_table
from hsic.cli import API_ONLY, build_parser, main, method_options

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
    resamples = ["--n-resamples", B] if method == "permutation" else []
    status, out, err = run(
        capsys, "test", files["x.csv"], files[y_file], "--json", "--method", method, *resamples,
        "--rng", 3,
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
            "--n-resamples",
            B,
            "--rng",
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
        capsys, "test", files["x.csv"], files["y.npy"], "--n-resamples", B, "--rng", 0,
        "--alpha", alpha,
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
    ("tty", "flags", "progress"),
    [
        (True, [], True),
        (True, ["--json"], False),
        (False, [], False),
        (True, ["--quiet"], False),
        (True, ["--no-progress"], False),
        (False, ["--progress", "--json"], True),
    ],
)
def test_progress_bar_only_on_a_terminal(capsys, monkeypatch, files, tty, flags, progress):
    calls = []
    real_test = hsic.test

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_test(*args, **{**kwargs, "progress": False})

    monkeypatch.setattr(hsic, "test", spy)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    argv = ["test", files["x.csv"], files["y.npy"], "--n-resamples", B]
    status, _, _ = run(capsys, *argv, *flags)
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
            "--n-resamples",
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
        ["--rng", "-1"],
        ["--n-resamples", "many"],
        ["--null", "exact"],
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
        ("\n\na,b\r\n1,2\r\n3,4", [[1, 2], [3, 4]]),  # leading empty lines, CRLF, no last EOL
        ("a\r1\r2\r\r", [[1], [2]]),  # old Mac line ends
    ],
)
def test_read_table_text(tmp_path, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    got = read_table(path)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_lines_are_counted_as_an_editor_does(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\n\na,b\r\n1,2\r\n\r\n3,\r\n")
    table = load_table(path)
    assert table.lines.tolist() == [4, 5, 6]
    assert table.blank.tolist() == [False, True, False]
    with pytest.raises(DataFileError, match=r"t.csv, line 5: empty line inside the data"):
        table.check_complete()
    with pytest.raises(DataFileError, match=r"t.csv, line 6, column 2 \('b'\): missing value"):
        table.take([0, 2]).check_complete()
    # a line break inside a quoted cell: no line numbers, rows counted from 0 instead
    path.write_text('a,b\n1,"2\n"\n3,x\n')
    with pytest.raises(DataFileError, match=r"row 1, column 1 \('b'\) \(counting from 0\): 'x'"):
        load_table(path)


def test_mixed_types_in_a_long_file_give_the_line_not_a_pandas_warning(tmp_path):
    """pandas reads long files in chunks, and warns (an error here) when a column's type
    differs between them; the bad cell is reported instead."""
    rows = [f"{i},{i / 2}" for i in range(300_000)]
    rows[250_000] = "abc,1"
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataFileError, match=r"line 250002, column 1 \('a'\): 'abc' is not a"):
        load_table(path)


def test_missing_value_in_npy(tmp_path):
    np.save(tmp_path / "m.npy", np.array([[1.0, 2.0], [3.0, np.nan]]))
    table = load_table(tmp_path / "m.npy")
    assert table.missing().tolist() == [False, True]
    with pytest.raises(DataFileError, match=r"m.npy, row 1, column 1 \(counting from 0\)"):
        table.check_complete()


def test_read_table_npy_shapes(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(4))
    np.save(tmp_path / "b.npy", np.ones((3, 2), dtype=np.float32))
    assert read_table(tmp_path / "a.npy").shape == (4, 1)
    assert read_table(tmp_path / "b.npy").dtype == np.float64


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("h.csv", "a,b\n", "no data rows"),
        ("e.csv", "1,2\n3,\n", "line 2, column 2: missing value"),
        ("b.csv", "a\n1\n\n2\n", "line 3: empty line inside the data: a missing value"),
        ("r.csv", "a,b\n1,2\n3\n", "line 3: expected 2 values, got 1"),
        ("l.csv", "a,b\n1,2\n3,4,5\n", "line 3: expected 2 values, got 3"),
        ("k.csv", "\n\na,b\n1,2\n\n3,4,5\n", "line 6: expected 2 values, got 3"),
        ("i.csv", "a\n1\n-inf\n", "line 3, column 1 .'a'.: -inf is not finite"),
        ("u.csv", b"a\n\xff\n", "not a UTF-8 text file"),
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


# --- missing values (issue 18, 1.1) -----------------------------------------------------------


def _gappy_pair(tmp_path, how):
    """One-column x and y files of N + 2 rows, y ≈ x, with a gap in x (row 5) and in y (row 20).

    ``how="blank"`` writes each gap as an empty line, as pandas before 3.0 wrote a NaN in a
    one-column file; ``how="pandas"`` lets the installed pandas write it.
    """
    rng = np.random.default_rng(7)
    x = rng.normal(size=N + 2)
    y = x + 0.1 * rng.normal(size=N + 2)
    xs, ys = pd.Series(x, name="x"), pd.Series(y, name="y")
    xs[5] = ys[20] = np.nan
    paths = tmp_path / "x.csv", tmp_path / "y.csv"
    for series, path in zip((xs, ys), paths, strict=True):
        if how == "blank":
            cells = ["" if np.isnan(v) else repr(float(v)) for v in series]
            path.write_text("\n".join([str(series.name), *cells]) + "\n")
        else:
            series.to_csv(path, index=False)
    keep = np.ones(N + 2, dtype=bool)
    keep[[5, 20]] = False
    return paths, x[keep], y[keep]


@pytest.mark.parametrize("how", ["blank", "pandas"])
def test_missing_value_is_reported_with_its_line(capsys, tmp_path, how):
    (px, py), _, _ = _gappy_pair(tmp_path, how)
    what = "empty line inside the data" if how == "blank" else "column 1 ('x'): missing value"
    assert_user_error(
        *run(capsys, "test", px, py, "--method", "gamma"), f"{px}, line 7", what, "--dropna"
    )
    table = load_table(py)
    assert table.missing().nonzero()[0].tolist() == [20]
    assert table.lines[20] == 22  # the header is line 1


@pytest.mark.parametrize("how", ["blank", "pandas"])
def test_dropna_drops_the_same_rows_from_both_files(capsys, tmp_path, how):
    """Regression: the empty lines were skipped, so that row i of x met row i+1 of y after the
    first gap, and a strong dependence (p ~ 1e-37) tested as none (p = 0.47)."""
    (px, py), x, y = _gappy_pair(tmp_path, how)
    status, out, err = run(capsys, "test", px, py, "--method", "gamma", "--dropna", "--json")
    assert status == 0, err
    assert err == f"hsic: dropped 2 of {N + 2} rows where X or Y has a missing value (--dropna).\n"
    got = json.loads(out)
    expected = hsic.test(x, y, method="gamma")
    assert got["n"] == N
    assert got["pvalue"] == expected.pvalue < 1e-6
    shifted = hsic.test(np.delete(x, 4)[: N - 2], np.delete(y, 4)[1: N - 1], method="gamma")
    assert shifted.pvalue > 0.01  # what the old pairing tested
    _, _, quiet = run(capsys, "test", px, py, "--method", "gamma", "--dropna", "--quiet", "--json")
    assert quiet == ""


def test_trailing_empty_lines_are_not_rows(capsys, tmp_path, files):
    path = tmp_path / "t.csv"
    x = np.loadtxt(files["x.csv"], delimiter=",", skiprows=1)
    path.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in x[:-1].tolist()) + "\n\n")
    table = load_table(path)
    assert len(table) == N - 1 and table.trailing_blank == 2
    assert_user_error(
        *run(capsys, "test", path, files["y.npy"]),
        f"{path} has {N - 1} samples", "2 empty line(s) at the end of",
    )


# --- the index column of DataFrame.to_csv(), and choosing columns (issue 18, 1.2) ------------


@pytest.fixture
def frames(tmp_path):
    """Independent x (two columns) and y, and a frame of both, written with their index."""
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(N, 2)), columns=["a", "b"])
    y = pd.DataFrame({"c": x["a"] ** 2 + 0.3 * rng.normal(size=N)})
    both = pd.concat([x, y], axis=1)
    paths = {name: tmp_path / f"{name}.csv" for name in ("x", "y", "both")}
    for name, frame in zip(paths, (x, y, both), strict=True):
        frame.to_csv(paths[name])  # with the index, as pandas does by default
    return x, y, paths


def test_index_column_in_both_files_is_refused(capsys, frames):
    _, _, paths = frames
    assert_user_error(
        *run(capsys, "test", paths["x"], paths["y"]),
        f"{paths['x']}, column 1 (''):", "looks like the index", "--index-col 0",
        "to_csv(index=False)",
    )


def test_index_column_in_one_file_is_refused(capsys, frames, tmp_path):
    x, _, paths = frames
    x.to_csv(tmp_path / "plain.csv", index=False)
    assert_user_error(
        *run(capsys, "test", tmp_path / "plain.csv", paths["y"]),
        f"{paths['y']}, column 1 (''):", "--index-col 0",
    )
    # after rows were dropped, the index is no longer 0..n-1, and is still refused
    x.iloc[::2].to_csv(tmp_path / "half.csv")
    with pytest.raises(DataFileError, match="looks like the index"):
        read_table(tmp_path / "half.csv")


@pytest.mark.parametrize("index_col", ["0", "''"])
def test_index_col_drops_the_index(capsys, frames, index_col):
    x, y, paths = frames
    index_col = "" if index_col == "''" else index_col
    status, out, err = run(
        capsys, "test", paths["x"], paths["y"], "--index-col", index_col, "--json", "--rng", 1,
        "--n-resamples", B,
    )
    assert status == 0, err
    expected = hsic.test(x.to_numpy(), y.to_numpy(), method=hsic.Permutation(B), rng=1)
    assert json.loads(out) == json.loads(json.dumps(expected.to_dict()))


def test_one_file_form_matches_the_arrays(capsys, frames):
    x, y, paths = frames
    expected = hsic.test(x.to_numpy(), y.to_numpy(), method="gamma", rng=0)
    for extra in ([], ["--index-col", "0"]):  # the index is not among the chosen columns
        status, out, err = run(
            capsys, "test", paths["both"], "--x", "a, b", "--y", "c", "--method", "gamma", *extra
        )
        assert status == 0, err
        assert f"X: {paths['both']} [a, b] ({N} samples, 2 columns)" in out
        assert f"Y: {paths['both']} [c] ({N} samples, 1 column)" in out
        assert f"pvalue     = {expected.pvalue:.4g}" in out
    status, out, _ = run(
        capsys, "test", paths["both"], "--x", "a,b", "--y", "c", "--method", "gamma", "--json",
        "--rng", "0",  # the recorded seed is in the JSON too
    )
    assert json.loads(out) == json.loads(json.dumps(expected.to_dict()))


def test_columns_select_from_each_file(capsys, frames):
    x, _, paths = frames
    status, out, err = run(
        capsys, "test", paths["x"], paths["both"], "--index-col", 0, "--columns", "a",
        "--method", "gamma", "--json",
    )
    assert status == 0, err  # x's a against itself
    expected = hsic.test(x[["a"]].to_numpy(), x[["a"]].to_numpy(), method="gamma")
    assert json.loads(out)["pvalue"] == expected.pvalue
    status, out, err = run(
        capsys, "test", paths["x"], paths["y"], "--index-col", 0, "--x", "b", "--y", "c",
        "--method", "gamma", "--json",
    )
    assert status == 0, err
    assert json.loads(out)["pvalue"] == hsic.test(x["b"], frames[1]["c"], method="gamma").pvalue


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{both}"], "with one file, name the columns of X and of Y with --x and --y"),
        (["{both}", "--x", "a"], "with one file, name the columns"),
        (["{both}", "--x", "a", "--y", "z"], "--y: no column named 'z'; the columns are '', 'a'"),
        (["{x}", "{y}", "--columns", "a", "--x", "a"], "give --columns (for both files) or"),
        (["{x}", "{y}", "--index-col", "7"], "--index-col 7: the file has 3 columns (0 to 2)"),
        (["{x}", "{y}", "--index-col", "id"], "--index-col 'id': not the name of one column"),
    ],
)
def test_column_choice_errors(capsys, frames, argv, message):
    paths = {name: str(path) for name, path in frames[2].items()}
    assert_user_error(*run(capsys, "test", *(a.format(**paths) for a in argv)), message)


def test_index_col_with_npy(capsys, files, frames):
    _, _, paths = frames
    assert_user_error(
        *run(capsys, "test", files["y.npy"], files["y.npy"], "--index-col", 0),
        "--index-col applies to .csv and .tsv files only",
    )
    status, _, err = run(  # applied to the text file only
        capsys, "test", paths["x"], files["y.npy"], "--index-col", 0, "--method", "gamma"
    )
    assert status == 0, err


# --- method options (issue 18, 3: the CLI) -----------------------------------------------------


def test_every_method_field_is_an_option(capsys):
    """The options come from the method objects' fields: none is left out or invented."""
    options = method_options()
    assert set(options) == {
        f.name for cls in METHODS.values() for f in dataclasses.fields(cls)
    } - set(API_ONLY) - {"alpha"}  # Aggregated's level is the verdict's --alpha
    status, help_text, _ = run(capsys, "test", "--help")
    assert status == 0
    help_text = " ".join(help_text.split("method options:")[1].split())
    for name, cls in METHODS.items():
        for field in dataclasses.fields(cls):
            if field.name in API_ONLY or field.name == "alpha":
                continue
            option = options[field.name]
            assert name in option.methods
            value = {
                "null": "spectral", "bandwidth_factors": "1,2", "pair_pvalues": "empirical"
            }.get(field.name, "3")
            args = build_parser().parse_args(["test", "x.csv", option.flag, value])
            assert getattr(args, field.name) is not None
            after = help_text.split(f"{option.flag} ", 1)[1]
            bracket = f"[{', '.join(option.methods)}] "
            assert bracket in after[: 40 + len(bracket)]
    assert "None" not in help_text and "``" not in help_text


@pytest.mark.parametrize(
    ("argv", "method"),
    [
        (["--n-resamples", B, "--batch-size", 7], hsic.Permutation(n_resamples=B, batch_size=7)),
        ([], hsic.Gamma()),
        (
            ["--n-resamples", B, "--n-resamples-level", 50, "--bandwidth-factors", "0.5,1,2",
             "--alpha", 0.1, "--pair-pvalues", "empirical"],
            hsic.Aggregated(n_resamples=B, n_resamples_level=50, bandwidth_factors=(0.5, 1, 2),
                            alpha=0.1, pair_pvalues="empirical"),
        ),
        (["--n-resamples", B, "--length", 3.5], hsic.WildBootstrap(n_resamples=B, length=3.5)),
        (["--n-features", 20, "--null", "permutation", "--n-resamples", B],
         hsic.RFF(n_features=20, null="permutation", n_resamples=B)),
        (["--n-features", 10], hsic.Nystrom(n_features=10)),
        (["--size", 6], hsic.Block(size=6)),
    ],
    ids=lambda v: v.name if isinstance(v, hsic.Method) else None,
)
def test_method_options_match_the_api(capsys, files, xy, argv, method):
    status, out, err = run(
        capsys, "test", files["x.csv"], files["y.npy"], "--method", method.name, *argv,
        "--rng", 2, "--json",
    )
    assert status == 0, err
    expected = hsic.test(*xy, method=method, rng=2)
    assert json.loads(out) == json.loads(json.dumps(expected.to_dict()))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-features", 20], "--n-features applies only to --method rff or nystrom; got it "
                               "with --method permutation"),
        (["--method", "gamma", "--n-resamples", 10], "--n-resamples applies only to --method "
                                                     "permutation or aggregated"),
        (["--method", "rff", "--batch-size", 10], "--batch-size applies only to"),
        (["--method", "block", "--size", 2], "--size must be an integer >= 4"),
        (["--n-resamples", 0], "--n-resamples must be a positive integer; got 0"),
        (["--quiet", "--progress"], "--quiet and --progress contradict each other"),
        (["--permutations", 5, "--n-resamples", 5], "--permutations is the old spelling of "
                                                    "--n-resamples; give only --n-resamples"),
    ],
)
def test_options_that_do_not_apply_are_refused(capsys, files, argv, message):
    assert_user_error(*run(capsys, "test", files["x.csv"], files["y.npy"], *argv), message)


def test_old_option_names_warn(capsys, files):
    argv = ["test", files["x.csv"], files["y.npy"], "--json"]
    status, old, err = run(capsys, *argv, "--permutations", B, "--seed", 4)
    assert status == 0
    assert err == (
        "hsic: warning: --permutations is deprecated; use --n-resamples.\n"
        "hsic: warning: --seed is deprecated; use --rng.\n"
    )
    _, new, err = run(capsys, *argv, "--n-resamples", B, "--rng", 4)
    assert err == "" and old == new


def test_dtype(capsys, files, xy):
    status, out, err = run(
        capsys, "test", files["x.csv"], files["y.npy"], "--method", "gamma", "--dtype", "float64",
        "--json",
    )
    assert status == 0, err
    expected = hsic.test(*xy, method="gamma", dtype="float64")
    assert json.loads(out)["statistic"] == expected.statistic
    assert expected.statistic != hsic.test(*xy, method="gamma", dtype="float32").statistic


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
