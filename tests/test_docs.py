"""The Python examples of the documentation run.

Every ```python block of each page below is executed, in order, in one namespace per page, so an
example that stops working fails the test suite. Blocks fenced with another language (```bash,
```text) are not run. Tracebacks point at the page and line of the failing example.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [
    "docs/index.md",
    "docs/guide.md",
    "README.md",
    "docs/joint-conditional.md",
    "docs/mi.md",
    "docs/scaling.md",
    "docs/bottleneck.md",
    "docs/beyond-one-pair.md",
    "docs/similarity.md",
    "docs/losses.md",
]
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(page: str) -> list[tuple[int, str]]:
    """``(first line, code)`` of each ```python block of ``<page>``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


def test_pages_have_examples():
    for page in PAGES:
        assert python_blocks(page), f"{page} has no ```python blocks"


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes stays out of the repository
    namespace = {"__name__": "__docs__"}
    for line, code in python_blocks(page):
        # Pad with blank lines so that tracebacks give the line number in the page.
        compiled = compile("\n" * (line - 1) + code, str(ROOT / page), "exec")
        exec(compiled, namespace)


# ---- statements of the docs, checked against the code, the package metadata and the results ----

TEXT_FILES = [
    "README.md",
    "CONTRIBUTING.md",
    "benchmarks/README.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "hsic").rglob("*.py")),
]


def pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_one_install_form():
    """The package is not on the index: every install line installs the checkout, ``".[extra]"``,
    never ``hsic`` or ``"hsic[extra]"`` by name."""
    by_name = re.compile(r"""pip install\s+(?:-e\s+)?["']?hsic\b|["']hsic\[""")
    for name in TEXT_FILES:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert not by_name.findall(text), f"{name} installs hsic by name: {by_name.findall(text)}"


def test_dependencies_and_their_docs_agree():
    project = pyproject()["project"]
    deps = project["dependencies"]
    assert not [d for d in deps if d.startswith("jaxlib")], "jax already pins its jaxlib"
    (jax_dep,) = [d for d in deps if re.match(r"jax\b", d)]
    floor = re.fullmatch(r"jax>=([\d.]+)", jax_dep).group(1)
    extras = project["optional-dependencies"]
    assert extras["cuda12"] == [f"jax[cuda12]>={floor}"]
    assert extras["cuda13"] == [f"jax[cuda13]>={floor}"]
    index = (ROOT / "docs/index.md").read_text(encoding="utf-8")
    assert f"`jax>={floor}`" in index and f"JAX {floor} or later" in index
    for page in ("README.md", "docs/scaling.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert 'pip install ".[cuda12]"' in text and 'pip install ".[cuda13]"' in text, page


def test_guide_points_to_the_joint_and_conditional_tests():
    for page in ("docs/index.md", "docs/guide.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "(joint-conditional.md)" in text, page
        assert not re.search(r"no tests of joint|joint independence [^.]*yet", text), page


# The table of docs/mi.md: how far a KSG estimate moves when x goes through a monotone map.
SHIFT_ROW = re.compile(r"^\| `([^`]+)` \| ([\d.]+)–([\d.]+) \| ([\d.]+)–([\d.]+) \|$", re.MULTILINE)


def test_ksg_moves_under_monotone_maps_as_the_mi_page_says():
    """The true MI is invariant to monotone maps, a KSG estimate is not: the n = 1000 column of
    the table in docs/mi.md is recomputed (the page must not claim invariance)."""
    import numpy as np

    import hsic.mi

    text = (ROOT / "docs/mi.md").read_text(encoding="utf-8")
    assert "invariant to monotone maps" not in text
    rows = SHIFT_ROW.findall(text)
    assert [r[0] for r in rows] == ["np.exp(x)", "x**3", "10 * x", "np.sinh(3 * x)"]
    task = hsic.mi.tasks.get("normal-1d-0.8")
    samples = [task.sample(1000, rng=seed) for seed in (0, 1, 2)]
    base = [hsic.mi.ksg(x, y) for x, y in samples]
    for expr, low, high, _, _ in rows:
        shifts = [
            abs(hsic.mi.ksg(eval(expr, {"np": np, "x": x}), y) - b)
            for (x, y), b in zip(samples, base, strict=True)
        ]
        assert min(shifts) == pytest.approx(float(low), abs=2e-3), expr
        assert max(shifts) == pytest.approx(float(high), abs=2e-3), expr
    assert max(shifts) > 0.1  # np.sinh(3 * x): far beyond the estimator's rounding


def test_mi_results_page_quotes_the_ksg_accuracy_of_its_table():
    """"within 0.025 at n = 5000" is the largest |bias| of KSG on the 1-D tasks in the results
    file, and "within about 0.035 from n = 1000 on" bounds it at n = 1000 and 5000."""
    import csv

    import hsic.mi

    with open(ROOT / "benchmarks/results/mi_compare.csv", encoding="utf-8") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["estimator"] == "ksg"
            and hsic.mi.tasks.get(r["task"]).dim_x == hsic.mi.tasks.get(r["task"]).dim_y == 1
        ]
    worst = {n: max(abs(float(r["bias"])) for r in rows if r["n"] == n) for n in ("1000", "5000")}
    text = " ".join((ROOT / "docs/mi-results.md").read_text(encoding="utf-8").split())
    assert f"within {worst['5000']:.3f} at n = 5000" in text
    assert "within about 0.035 nats of the truth from n = 1000 on" in text
    assert max(worst.values()) <= 0.035


def test_sklearn_estimate_is_ksg_on_unit_variance_data():
    """As benchmarks/README.md and hsic.mi.ksg's docstring say: scikit-learn's KSG scales each
    variable to unit variance first (its 1e-10 noise moves the estimate by far less), so it
    matches ours on scaled data and not on data of different spreads."""
    import numpy as np

    import hsic.mi

    sklearn_fs = pytest.importorskip("sklearn.feature_selection")
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    y = 10 * (0.8 * x + 0.6 * rng.normal(size=2000))
    theirs = sklearn_fs.mutual_info_regression(x[:, None], y, n_neighbors=3, random_state=0)[0]
    scaled = hsic.mi.ksg(x / x.std(), y / y.std(), dtype="float64")
    raw = hsic.mi.ksg(x, y, dtype="float64")
    assert theirs == pytest.approx(scaled, abs=1e-6)
    assert abs(raw - theirs) > 0.01
    readme = " ".join((ROOT / "benchmarks/README.md").read_text(encoding="utf-8").split())
    assert "the same estimator plus 1e-10 noise" not in readme
    assert "divides x and y each by its standard deviation" in readme
