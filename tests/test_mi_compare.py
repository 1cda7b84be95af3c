"""The comparison harness hsic.mi.compare, its result object, figures and the `hsic compare` CLI.

The permutation p-values are checked against an independent NumPy loop (the permutations drawn
with ``np.random.default_rng(seed).permutation(n)``, one after another, from each repetition's
seed), and the summary columns against NumPy and scipy computations on the per-repetition runs.
"""

import csv
import json
import math

import jax
import numpy as np
import pytest
import scipy.stats

import hsic
import hsic.mi
from hsic.cli import main
from hsic.mi import Critic, Training, _compare, _training

NORMAL_FAMILY = ["normal-1d-0.8", "normal-dense-3x3-0.5", "normal-sparse-5x5-0.8"]
INDEPENDENT = "independent-normal-3x3"
STEPS_100 = Training(steps=100)


def abs_pearson(x, y):
    return abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1])


def numpy_pvalue(stat, x, y, seed, B):
    rng = np.random.default_rng(seed)
    observed = stat(x, y)
    null = np.array([stat(x, y[rng.permutation(len(y))]) for _ in range(B)])
    return (1 + np.sum(null >= observed - 1000 * np.finfo(float).eps * abs(observed))) / (1 + B)


@pytest.fixture(scope="module")
def result():
    return hsic.mi.compare(
        [*NORMAL_FAMILY, INDEPENDENT], n=[60, 120], repeats=3,
        estimators=["gaussian", "ksg", abs_pearson, "hsic", "nhsic"], n_resamples=30,
        rng=0,
    )


def test_pvalues_match_an_independent_permutation_loop(result):
    for run in (r for r in result.runs if r["estimator"] == "abs_pearson"):
        x, y = hsic.mi.tasks.get(run["task"]).sample(run["n"], rng=run["seed"])
        assert run["pvalue"] == pytest.approx(numpy_pvalue(abs_pearson, x, y, run["seed"], 30))


def test_hsic_test_uses_the_same_permutations():
    x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(40, rng=3)
    rng = np.random.default_rng(5)
    direct = [float(hsic.hsic(x, y[rng.permutation(40)])) for _ in range(25)]
    null = hsic.test(x, y, method=hsic.Permutation(n_resamples=25), rng=5).null_distribution
    np.testing.assert_allclose(null, direct, rtol=2e-4, atol=1e-7)


def test_kernel_shortcuts_equal_recomputing_on_each_permutation():
    def nhsic_direct(x, y):
        return float(hsic.nhsic(x, y))

    def hsic_direct(x, y):
        return float(hsic.hsic(x, y))

    res = hsic.mi.compare(
        ["normal-1d-0.8", INDEPENDENT], n=30, repeats=2, rng=4,
        estimators=["hsic", "nhsic", hsic_direct, nhsic_direct], n_resamples=40,
    )
    runs = {(r["estimator"], r["task"], r["seed"]): r for r in res.runs}
    for task in ["normal-1d-0.8", INDEPENDENT]:
        for seed in (4, 5):
            for fast, slow in (("hsic", "hsic_direct"), ("nhsic", "nhsic_direct")):
                a, b = runs[fast, task, seed], runs[slow, task, seed]
                assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-5)
                assert a["pvalue"] == pytest.approx(b["pvalue"])


def test_summary_columns_against_numpy(result):
    for rec in result.records:
        runs = [
            r for r in result.runs
            if (r["estimator"], r["task"], r["n"]) == (rec["estimator"], rec["task"], rec["n"])
        ]
        est = np.array([r["estimate"] for r in runs])
        assert rec["n_repeats"] == len(runs) == 3
        assert rec["estimate_mean"] == pytest.approx(est.mean())
        assert rec["estimate_sd"] == pytest.approx(np.std(est, ddof=1))
        assert rec["hsic"] == pytest.approx(np.mean([r["hsic"] for r in runs]))
        assert rec["power"] == pytest.approx(np.mean([r["pvalue"] <= 0.05 for r in runs]))
        true = hsic.mi.tasks.get(rec["task"]).mi
        assert rec["true_mi"] == true
        if rec["estimator"] in ("hsic", "nhsic"):
            assert math.isnan(rec["bias"]) and math.isnan(rec["rmse"])
        else:
            assert rec["bias"] == pytest.approx(est.mean() - true)
            assert rec["rmse"] == pytest.approx(math.sqrt(np.mean((est - true) ** 2)))


def test_hsic_columns_are_those_of_the_same_samples(result):
    for run in result.runs:
        if run["estimator"] == "hsic":
            assert run["estimate"] == pytest.approx(run["hsic"])
        if run["estimator"] == "nhsic":
            assert run["estimate"] == pytest.approx(run["nhsic"])
    x, y = hsic.mi.tasks.get(INDEPENDENT).sample(60, rng=2)
    run = next(r for r in result.runs if (r["task"], r["n"], r["seed"]) == (INDEPENDENT, 60, 2))
    assert run["nhsic"] == pytest.approx(float(hsic.nhsic(x, y)), rel=1e-5)


def spearman_by_hand(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))  # no ties here
    m = len(a)
    return 1 - 6 * np.sum((ra - rb) ** 2) / (m * (m * m - 1))


def test_spearman_within_family(result):
    for name in ("gaussian", "hsic", "nhsic", "ksg"):
        for size in (60, 120):
            group = [
                r for r in result.records
                if r["estimator"] == name and r["n"] == size and r["family"] == "normal"
            ]
            want = spearman_by_hand(
                [r["true_mi"] for r in group], [r["estimate_mean"] for r in group]
            )
            assert [r["spearman_family"] for r in group] == pytest.approx([want] * 3)
    # The independence family has one task: no rank correlation.
    assert all(math.isnan(r["spearman_family"]) for r in result.records if r["task"] == INDEPENDENT)


def test_power_high_under_dependence_low_under_independence(result):
    for rec in result.records:
        if rec["task"] == "normal-1d-0.8" and rec["n"] == 120:
            assert rec["power"] == 1.0, rec["estimator"]
        if rec["task"] == INDEPENDENT:
            assert rec["power"] <= 1 / 3, rec["estimator"]


def test_size_of_the_tests_small_run():
    # 40 samples of independent data: each statistic rejects at 0.05 about twice; the count must
    # be inside a 99.9% binomial interval (a bounded CI version of the slow calibration test).
    res = hsic.mi.compare(
        INDEPENDENT, n=20, repeats=40, estimators=["gaussian", abs_pearson, "hsic"],
        n_resamples=19,
        rng=0,
    )
    for rec in res.records:
        k = round(rec["power"] * 40)
        assert scipy.stats.binomtest(k, 40, 0.05).pvalue > 0.001, rec["estimator"]


@pytest.mark.slow
def test_size_calibration_slow():
    repeats = 300
    res = hsic.mi.compare(
        INDEPENDENT, n=40, repeats=repeats, estimators=["gaussian", "ksg", "hsic", "nwj"],
        n_resamples=99,
        options={"nwj": {"training": Training(steps=50), "critic": Critic(hidden=(16,))}},
        rng=0,
    )
    for rec in res.records:
        k = round(rec["power"] * repeats)
        ci = scipy.stats.binomtest(k, repeats, 0.05).proportion_ci(0.99)
        assert ci.low <= 0.05 <= ci.high, (rec["estimator"], k)


def test_neural_estimators_with_held_out_permutations(tmp_path):
    res = hsic.mi.compare(
        "normal-1d-0.8", n=400, repeats=2, estimators=["infonce", "smile"],
        n_resamples=30,
        options={"infonce": {"training": STEPS_100}, "smile": {"training": STEPS_100}},
        rng=0,
    )
    runs = {(r["estimator"], r["task"], r["seed"]): r for r in res.runs}
    for name in ("infonce", "smile"):
        for seed in (0, 1):
            x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(400, rng=seed)
            direct = getattr(hsic.mi, name)(x, y, training=STEPS_100, rng=seed)
            assert runs[name, "normal-1d-0.8", seed]["estimate"] == pytest.approx(direct)
            assert runs[name, "normal-1d-0.8", seed]["pvalue"] == pytest.approx(1 / 31)
    # The option objects are written to JSON as plain dicts.
    data = json.loads(res.to_json(tmp_path / "r.json").read_text())
    assert data["config"]["options"]["infonce"]["training"]["steps"] == 100


def test_neural_null_restricts_each_permutation_to_the_held_out_part():
    x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(400, rng=0)
    perms = np.array([np.random.default_rng(s).permutation(400) for s in range(6)])
    fit = _training.fit(x, y, bound="nwj", training=Training(steps=5), rng=0)
    spec = _compare._neural_spec("nwj", {"training": Training(steps=5)})
    value, null, _, _ = spec.run(x, y, 0, perms)
    assert value == pytest.approx(fit.value())
    held_out = list(fit.test_index)
    for p, got in zip(perms, null, strict=True):
        # The held-out rows of y, in the order in which p lists them.
        order = [held_out.index(i) for i in p if i in held_out]
        assert sorted(order) == list(range(len(held_out)))
        assert got == pytest.approx(fit.value(np.array(order)))


def test_rng_reproducible_and_matters():
    kwargs = dict(n=50, estimators=["ksg", "hsic", abs_pearson], n_resamples=10)
    a = hsic.mi.compare("normal-1d-0.8", rng=1, repeats=1, **kwargs)
    b = hsic.mi.compare("normal-1d-0.8", rng=1, repeats=1, **kwargs)
    c = hsic.mi.compare("normal-1d-0.8", rng=2, repeats=1, **kwargs)
    strip = lambda runs: [{k: v for k, v in r.items() if "time" not in k} for r in runs]  # noqa: E731
    assert strip(a.runs) == strip(b.runs)
    assert a.runs[0]["estimate"] != c.runs[0]["estimate"]
    # Repetition r has the seed rng + r, so one repetition can be redone alone.
    d = hsic.mi.compare("normal-1d-0.8", rng=0, repeats=3, **kwargs)
    assert strip(r for r in d.runs if r["seed"] == 1) == strip(a.runs)
    assert d.config["seeds"] == [0, 1, 2] and d.config["rng"] == 0
    # A JAX key is its seed: key(0) runs what rng=0 runs.
    e = hsic.mi.compare("normal-1d-0.8", rng=jax.random.key(0), repeats=2, **kwargs)
    f = hsic.mi.compare("normal-1d-0.8", rng=0, repeats=2, **kwargs)
    assert strip(e.runs) == strip(f.runs) and len({r["seed"] for r in e.runs}) == 2
    # None: a fresh seed, recorded; passing it back repeats the comparison.
    g = hsic.mi.compare("normal-1d-0.8", repeats=1, **kwargs)
    h = hsic.mi.compare("normal-1d-0.8", rng=g.config["rng"], repeats=1, **kwargs)
    assert isinstance(g.config["rng"], int) and strip(g.runs) == strip(h.runs)


def test_callables_get_the_repetition_seed_as_rng():
    seen = []

    def noisy(x, y, rng):
        seen.append(rng)
        return float(np.random.default_rng(rng).normal())

    hsic.mi.compare("normal-1d-0.8", n=20, rng=7, repeats=2, estimators=[noisy], n_resamples=0)
    assert seen == [7, 8]


def test_no_permutations_means_no_power():
    res = hsic.mi.compare("normal-1d-0.8", n=30, repeats=2, estimators=["gaussian"],
                          n_resamples=0, rng=0)
    assert math.isnan(res.records[0]["power"]) and math.isnan(res.runs[0]["pvalue"])


# --- outputs ----------------------------------------------------------------------------------


def test_csv_json_and_frame(result, tmp_path):
    path = result.to_csv(tmp_path / "r.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(_compare.COLUMNS)
    assert len(rows) == len(result.records) == 5 * 4 * 2
    assert float(rows[0]["estimate_mean"]) == pytest.approx(result.records[0]["estimate_mean"])

    data = json.loads(result.save(tmp_path / "r.json").read_text())
    assert data["n_resamples"] == 30 and data["config"]["n"] == [60, 120]
    assert data["config"]["repeats"] == 3 and data["config"]["seeds"] == [0, 1, 2]
    assert len(data["runs"]) == len(result.runs)
    hsic_record = next(r for r in data["records"] if r["estimator"] == "hsic")
    assert hsic_record["bias"] is None  # NaN is written as null

    frame = result.to_frame()
    assert frame.shape == (40, len(_compare.COLUMNS))
    assert frame["estimate_mean"].tolist() == [r["estimate_mean"] for r in result.records]

    with pytest.raises(ValueError, match=r"`path` must end in .csv or .json; got '.*r.txt'"):
        result.save(tmp_path / "r.txt")


def test_figures_leave_the_backend_alone(result, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    paths = result.plot(tmp_path / "figs")
    assert [p.name for p in paths] == ["estimate_vs_true_mi.png", "power_vs_n.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == before


# --- bad inputs -------------------------------------------------------------------------------

BAD = [
    (dict(tasks=[]), "`tasks` must be a non-empty list of task names"),
    (dict(tasks=["nope"]), "`name` must be one of .*got 'nope'"),
    (dict(tasks=["normal-1d-0.8", "normal-1d-0.8"]), "`tasks` must not repeat a task"),
    (dict(n=5), r"`n` must be an integer >= 8 or a non-empty list of them; got 5"),
    (dict(n=[100, "a"]), r"`n` must be an integer >= 8 .*got \[100, 'a'\]"),
    (dict(repeats=0), "`repeats` must be a positive integer; got 0"),
    (dict(repeats=[1, 2]), r"`repeats` must be a positive integer; got \[1, 2\]"),
    (dict(rng=-1), r"`rng` must be a non-negative integer \(below 2\*\*64\)"),
    (dict(rng=1.5), r"`rng` must be a non-negative integer \(below 2\*\*64\)"),
    (dict(estimators=[]), "`estimators` must be a non-empty list of names"),
    (dict(estimators=["ksg", "nope"]), "`estimators` entries must be one of .*got 'nope'"),
    (dict(estimators=["ksg", "ksg"]), r"`estimators` must not repeat a name; got \['ksg', 'ksg'\]"),
    (dict(n_resamples=-1), "`n_resamples` must be a non-negative integer .*got -1"),
    (dict(n_resamples=2.5), "`n_resamples` must be a non-negative integer .*got 2.5"),
    (dict(n_resamples=True), "`n_resamples` must be a non-negative integer .*got True"),
    (dict(alpha=1.5), "`alpha` must be a number strictly between 0 and 1; got 1.5"),
    (dict(options=[1]), "`options` must be a mapping from estimator name"),
    (
        dict(options={"infonce": {}}),
        r"`options` names estimators that are not compared: \['infonce'\]",
    ),
    (
        dict(estimators=["infonce"], options={"infonce": {"steps": 200}}),
        r"`options\['infonce'\]` takes critic, training, dtype; got 'steps'. Training options go",
    ),
    (
        dict(estimators=["nwj"], options={"nwj": {"tau": 2.0}}),
        r"`options\['nwj'\]` takes critic, training, dtype; got 'tau'",
    ),
    (
        dict(estimators=["smile"], options={"smile": {"tau": 0}}),
        "`tau` must be a positive finite number; got 0",
    ),
    (
        dict(estimators=["mine"], options={"mine": {"training": {"steps": 5}}}),
        "`training` must be a hsic.mi.Training",
    ),
    (dict(progress="yes"), "`progress` must be True, False or None"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD)
def test_bad_arguments(kwargs, match):
    args = dict(tasks=["normal-1d-0.8"], n=20, repeats=1, estimators=["ksg"], n_resamples=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hsic.mi.compare(args.pop("tasks"), **args)


# --- CLI --------------------------------------------------------------------------------------


def test_cli_compare_tiny(tmp_path, capsys):
    out = tmp_path / "results.csv"
    status = main([
        "compare", "--tasks", "normal-1d-0.8,additive-uniform-0.5", "--n", "400",
        "--seeds", "2", "--estimators", "gaussian,nwj,hsic", "--steps", "10",
        "--permutations", "9", "--out", str(out), "--figures", str(tmp_path / "figs"),
    ])
    assert status == 0
    text = capsys.readouterr().out
    assert "gaussian" in text and f"Wrote {out}" in text
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2
    assert {r["estimator"] for r in rows} == {"gaussian", "nwj", "hsic"}
    assert (tmp_path / "figs" / "power_vs_n.png").exists()
    # The CLI gives the library's numbers.
    direct = hsic.mi.compare(
        ["normal-1d-0.8", "additive-uniform-0.5"], n=400, repeats=2,
        estimators=["gaussian"], n_resamples=9,
        rng=0,
    )
    assert float(rows[0]["estimate_mean"]) == pytest.approx(direct.records[0]["estimate_mean"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "r.txt"], "--out must end in .csv or .json; got 'r.txt'"),
        (["--n", "10,x", "--out", "r.csv"], "--n must be comma-separated integers"),
        (["--tasks", "nope", "--out", "r.csv"], "`name` must be one of"),
        (["--estimators", "ksg,foo", "--out", "r.csv"], "`estimators` entries must be one of"),
    ],
)
def test_cli_compare_user_errors(argv, message, capsys):
    assert main(["compare", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_compare_usage_error(capsys):
    assert main(["compare", "--seeds", "0", "--out", "r.csv"]) == 2
    assert "must be a positive integer; got '0'" in capsys.readouterr().err


def test_cli_compare_without_out_prints_the_table(tmp_path, capsys, monkeypatch):
    """Without --out the summary goes to stdout and no file is written."""
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--tasks", "normal-1d-0.8", "--n", "60", "--seeds", "2",
                 "--estimators", "gaussian", "--permutations", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["estimator", "task", "n"]
    row = lines[2].split()
    direct = hsic.mi.compare(["normal-1d-0.8"], n=60, repeats=2, estimators=["gaussian"],
                             n_resamples=0, rng=0).records[0]
    assert row[:3] == ["gaussian", "normal-1d-0.8", "60"]
    assert float(row[4]) == pytest.approx(direct["estimate_mean"], rel=1e-3)
    assert not any("Wrote" in line for line in lines) and list(tmp_path.iterdir()) == []


def test_cli_compare_quick_preset(capsys):
    """--quick runs the QUICK tasks at its n and seeds; options given win over it."""
    from hsic.mi._cli import QUICK

    assert main(["compare", "--quick", "--estimators", "gaussian", "--permutations", "0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[1] for r in rows] == QUICK["tasks"].split(",")
    assert {r[2] for r in rows} == {QUICK["n"]}
    assert main(["compare", "--quick", "--n", "80", "--tasks", "normal-1d-0.8",
                 "--estimators", "gaussian", "--permutations", "0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[1:3] for r in rows] == [["normal-1d-0.8", "80"]]
