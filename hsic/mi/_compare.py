"""The comparison harness: MI estimators, HSIC and nHSIC side by side on tasks with known MI.

This module owns [`compare`][hsic.mi.compare], its result [`CompareResult`][hsic.mi.CompareResult]
(table, CSV/JSON/pandas export and figures) and the rule that makes the independence tests of
all statistics comparable: for each task, n and repetition (with its integer seed s), the B
permutations are drawn once from s (NumPy's PCG64, one ``rng.permutation(n)`` after another,
exactly as [`hsic.test`][hsic.test] draws them), and every statistic is recomputed on
``(x, y[p])`` for each of them. The p-value is the core's ``(1 + #{null ≥ observed}) / (1 + B)``.

Three statistics take exact shortcuts through the same permutations:

* ``"hsic"``: [`hsic.test`][hsic.test] with the same seed s, whose permutation engine reuses the
  centred Gram matrices;
* ``"nhsic"``: ``nHSIC = HSIC / sqrt(HSIC(x, x)·HSIC(y, y))`` and the denominator does not change
  when y is permuted, so its null is HSIC's null times a constant (the same p-value);
* the neural bounds: the critic is trained once on the training part, and the permutation is
  applied to the held-out part only (the held-out rows of y are reordered as ``p`` orders them,
  a uniform permutation of the held-out part). Given the training part, this is an exact
  permutation test of the held-out statistic, B times cheaper than retraining.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import math
import pathlib
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import hsic
from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import (
    check_number,
    check_positive_int,
    check_probability,
    float_dtype,
    is_number,
)
from hsic._nulls.permutation import draw_permutations
from hsic._nulls.pvalues import permutation_pvalue
from hsic.mi import _classical, _critics, _ksg, _training
from hsic.mi import tasks as _tasks
from hsic.mi._bounds import BOUNDS

__all__ = ["CompareResult", "ESTIMATORS", "compare"]

#: Estimators known by name. ``"hsic"`` and ``"nhsic"`` are dependence statistics, not MI.
ESTIMATORS = (
    "ksg", "gaussian", "histogram", "kde", "infonce", "nwj", "mine", "smile", "hsic", "nhsic",
)
_KERNEL_STATISTICS = ("hsic", "nhsic")
_PLAIN = {
    "ksg": _ksg.ksg,
    "gaussian": _classical.gaussian,
    "histogram": _classical.histogram,
    "kde": _classical.kde,
}

#: Columns of the summary table, in order.
COLUMNS = (
    "estimator", "task", "family", "n", "true_mi", "n_repeats", "estimate_mean", "estimate_sd",
    "bias", "rmse", "spearman_family", "hsic", "nhsic", "power", "time_s", "test_time_s",
)


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """The outcome of [`compare`][hsic.mi.compare].

    Attributes:
      records: the summary table, one dict per (estimator, task, n), with the keys of
        ``COLUMNS``: ``n_repeats``, the number of repetitions (samples) summarised;
        ``estimate_mean`` and ``estimate_sd`` over them (nats for MI estimators, the statistic
        itself for ``"hsic"``/``"nhsic"``); ``bias`` and ``rmse`` against
        ``true_mi`` (NaN for ``"hsic"``/``"nhsic"``); ``spearman_family``, the Spearman rank
        correlation between ``estimate_mean`` and ``true_mi`` across the tasks of the same
        family at this n (NaN with fewer than 3 tasks or no spread); ``hsic`` and ``nhsic``,
        the mean biased HSIC and nHSIC of the same samples; ``power``, the fraction of
        repetitions whose permutation p-value is at most ``alpha`` (NaN without a test);
        ``time_s``, the median seconds of one estimate (the first run of a new shape includes
        compilation); ``test_time_s``, the median seconds of the B permuted statistics.
      runs: one dict per (estimator, task, n, repetition): ``seed``, the integer seed of the
        repetition (``task.sample(n, rng=seed)`` redraws its sample), ``estimate``,
        ``pvalue``, ``hsic``, ``nhsic``, ``time_s``, ``test_time_s``.
      alpha: the significance level of ``power``.
      n_resamples: B, the permutations of each test (0: no tests were run).
      config: the arguments, machine and versions, for the record.
    """

    records: tuple[dict[str, Any], ...]
    runs: tuple[dict[str, Any], ...]
    alpha: float
    n_resamples: int
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_csv(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the summary table to ``path`` as CSV (one row per record) and return the path."""
        path = pathlib.Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.records)
        return path

    def to_json(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the configuration, summary table and per-repetition runs to ``path`` as JSON.

        NaN becomes ``null``; an option that JSON cannot hold is written as its ``repr``.
        """
        path = pathlib.Path(path)
        payload = {
            "config": dict(self.config),
            "alpha": self.alpha,
            "n_resamples": self.n_resamples,
            "records": [_jsonable(r) for r in self.records],
            "runs": [_jsonable(r) for r in self.runs],
        }
        path.write_text(json.dumps(payload, indent=1, default=repr), encoding="utf-8")
        return path

    def to_frame(self):
        """The summary table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - pandas is in the test extra
            raise ImportError("CompareResult.to_frame needs pandas: pip install pandas") from err
        return pd.DataFrame(list(self.records), columns=list(COLUMNS))

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write to ``path`` as CSV or JSON, by its suffix (``.csv`` or ``.json``)."""
        suffix = pathlib.Path(path).suffix.lower()
        if suffix == ".csv":
            return self.to_csv(path)
        if suffix == ".json":
            return self.to_json(path)
        raise ValueError(f"`path` must end in .csv or .json; got {str(path)!r}.")

    def plot(self, directory: str | pathlib.Path) -> list[pathlib.Path]:
        """Draw the figures into ``directory`` (created if needed) and return their paths.

        * ``estimate_vs_true_mi.png``: one panel per estimator, mean ± sd over repetitions
          against the true MI, one colour per n, with the diagonal for the MI estimators (MI
          panels show −0.5 to 1.6× the largest true MI; means outside are triangles on the
          edge);
        * ``power_vs_n.png``: one panel per task, the power of each statistic's permutation
          test against n (only when tests were run).

        Needs matplotlib (the ``plot`` extra). The figures are drawn on Agg canvases without
        pyplot, so the user's matplotlib backend is left as it is.
        """
        from hsic.mi import _plots

        return _plots.draw(self, pathlib.Path(directory))


def _jsonable(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()
    }


# ---------------------------------------------------------------------------------------------
# Estimator specifications


@dataclasses.dataclass(frozen=True)
class _Spec:
    """How to compute one statistic and its permutation null on a sample."""

    name: str
    # (x, y, seed, perms) -> (estimate, null or None, seconds for the estimate, for the null);
    # seed is the repetition's integer seed, passed on as the estimator's ``rng``
    run: Callable[..., tuple[float, np.ndarray | None, float, float]]
    is_mi: bool = True


def _timed(f, *args, **kwargs):
    start = time.perf_counter()
    value = f(*args, **kwargs)
    return value, time.perf_counter() - start


def _generic_spec(name: str, f: Callable[..., float], options: Mapping[str, Any]) -> _Spec:
    """A statistic recomputed on each permuted sample; ``rng`` is passed if ``f`` takes it."""
    try:
        takes_rng = "rng" in inspect.signature(f).parameters
    except (TypeError, ValueError):  # builtins without a signature
        takes_rng = False

    def call(x, y, seed):
        extra = {"rng": seed} if takes_rng and "rng" not in options else {}
        return float(f(x, y, **options, **extra))

    def run(x, y, seed, perms):
        value, seconds = _timed(call, x, y, seed)
        if perms is None:
            return value, None, seconds, 0.0
        null, null_seconds = _timed(lambda: np.array([call(x, y[p], seed) for p in perms]))
        return value, null, seconds, null_seconds

    return _Spec(name, run)


#: The ``options`` a neural bound takes in ``compare``: its keywords but the data, ``rng``
#: (the repetition's), ``base`` (compare speaks nats) and ``progress`` (compare's own bar).
_NEURAL_OPTIONS = {
    "infonce": ("critic", "training", "dtype"),
    "nwj": ("critic", "training", "dtype"),
    "mine": ("critic", "training", "ma_rate", "dtype"),
    "smile": ("critic", "training", "tau", "dtype"),
}


def _check_neural_options(name: str, options: Mapping[str, Any]) -> None:
    """Check the options of the neural bound ``name`` before any training."""
    unknown = sorted(set(options) - set(_NEURAL_OPTIONS[name]))
    if unknown:
        raise ValueError(
            f"`options['{name}']` takes {', '.join(_NEURAL_OPTIONS[name])}; got "
            f"{', '.join(map(repr, unknown))}. Training options go in hsic.mi.Training, e.g. "
            f"{{'{name}': {{'training': hsic.mi.Training(steps=200)}}}}."
        )
    _training.check_options(
        name, critic=options.get("critic", _critics.Critic()),
        training=options.get("training", _training.Training()),
        tau=options.get("tau"), ma_rate=options.get("ma_rate"),
    )
    float_dtype(options.get("dtype"))


def _neural_spec(name: str, options: Mapping[str, Any]) -> _Spec:
    _check_neural_options(name, options)

    def run(x, y, seed, perms):
        start = time.perf_counter()
        fit = _training.fit(x, y, bound=name, rng=seed, progress=False, **options)
        value = fit.value()
        seconds = time.perf_counter() - start
        if perms is None:
            return value, None, seconds, 0.0
        # Restrict each permutation of the n rows to the held-out rows: their order in p,
        # expressed as positions in the held-out part, is a uniform permutation of that part.
        position = np.full(len(x), -1)
        position[fit.test_index] = np.arange(len(fit.test_index))

        def null():
            return np.array([fit.value(position[p][position[p] >= 0]) for p in perms])

        values, null_seconds = _timed(null)
        return value, values, seconds, null_seconds

    return _Spec(name, run)


def _kernel_spec(name: str, options: Mapping[str, Any]) -> _Spec:
    def run(x, y, seed, perms):
        value, seconds = _timed(
            lambda: float((hsic.hsic if name == "hsic" else hsic.nhsic)(x, y, **options))
        )
        if perms is None:
            return value, None, seconds, 0.0
        # The same permutations as ours: hsic.test draws rng.permutation(n) in order from seed.
        res, null_seconds = _timed(
            hsic.test, x, y, method=hsic.Permutation(n_resamples=len(perms)), rng=seed, **options
        )
        null = res.null_distribution
        if name == "nhsic":  # nHSIC(x, y∘p) = HSIC(x, y∘p) · nHSIC(x, y) / HSIC(x, y)
            null = null * (value / res.statistic)
        return value, np.asarray(null, dtype=np.float64), seconds, null_seconds

    return _Spec(name, run, is_mi=False)


def _specs(estimators: Any, options: Any) -> list[_Spec]:
    if isinstance(estimators, str) or callable(estimators):
        estimators = [estimators]
    try:
        estimators = list(estimators)
    except TypeError:
        estimators = None
    if not estimators:
        raise ValueError(
            f"`estimators` must be a non-empty list of names ({', '.join(ESTIMATORS)}) or "
            f"callables f(x, y) -> float; got {estimators!r}."
        )
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ValueError(
            "`options` must be a mapping from estimator name to keyword arguments, e.g. "
            f"{{'ksg': {{'k': 5}}}}; got {options!r}."
        )
    specs = []
    for e in estimators:
        if callable(e):
            name = getattr(e, "__name__", repr(e))
            specs.append(_generic_spec(name, e, options.get(name, {})))
        elif isinstance(e, str) and e in ESTIMATORS:
            opts = dict(options.get(e, {}))
            if e in _KERNEL_STATISTICS:
                specs.append(_kernel_spec(e, opts))
            elif e in BOUNDS:
                specs.append(_neural_spec(e, opts))
            else:
                specs.append(_generic_spec(e, _PLAIN[e], opts))
        else:
            raise ValueError(
                f"`estimators` entries must be one of {', '.join(map(repr, ESTIMATORS))} or a "
                f"callable f(x, y) -> float; got {e!r}."
            )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"`estimators` must not repeat a name; got {names}.")
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(
            f"`options` names estimators that are not compared: {sorted(unknown)}; "
            f"compared: {names}."
        )
    return specs


def _check_tasks(tasks_: Any) -> list[_tasks.Task]:
    if isinstance(tasks_, (str, _tasks.Task)):
        tasks_ = [tasks_]
    try:
        items = list(tasks_)
    except TypeError:
        items = []
    if not items:
        raise ValueError(
            "`tasks` must be a non-empty list of task names (see hsic.mi.tasks.TASKS) or "
            f"hsic.mi.tasks.Task objects; got {tasks_!r}."
        )
    out = [t if isinstance(t, _tasks.Task) else _tasks.get(t) for t in items]
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"`tasks` must not repeat a task; got {names}.")
    return out


def _check_int_list(value: Any, name: str, *, minimum: int) -> list[int]:
    items = [value] if is_number(value, integer=True) else value
    try:
        items = list(items)
    except TypeError:
        items = []
    ok = bool(items) and all(is_number(v, integer=True) and v >= minimum for v in items)
    if not ok:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum} or a non-empty list of them; got {value!r}."
        )
    return [int(v) for v in items]


def _pvalue(null: np.ndarray | None, value: float) -> float:
    """The permutation p-value of an estimate, or NaN without a null or when the estimate or
    a permuted one is not finite (a diverged neural estimator): one such run must not stop
    the comparison."""
    if null is None or not (np.isfinite(value) and np.all(np.isfinite(null))):
        return math.nan
    return permutation_pvalue(null, value)


def _repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The integer seed of each repetition: ``seed, seed + 1, ...`` (modulo 2**64)."""
    return [(seed + r) % 2**64 for r in range(repeats)]


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for the record: option objects (``Critic``, ``Training``) as dicts."""
    return {
        k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
        for k, v in options.items()
    }


def compare(
    tasks: Any,
    *,
    n: int | Sequence[int] = (200, 1000),
    repeats: int = 3,
    rng: RNGLike = None,
    estimators: Sequence[str | Callable[..., float]] = ("ksg", "gaussian", "hsic", "nhsic"),
    n_resamples: int = 100,
    alpha: float = 0.05,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool | None = None,
) -> CompareResult:
    """Compare MI estimators, HSIC and nHSIC on tasks with known mutual information.

    For each task and sample size n, ``repeats`` samples are drawn: repetition r has the
    integer seed ``s = rng + r`` (for an int ``rng``), its sample is
    ``(x, y) = task.sample(n, rng=s)``, and every estimator is run on it (with ``rng=s`` too, if
    it takes an ``rng``). So ``rng=0, repeats=3`` runs seeds 0, 1 and 2, and any one repetition
    can be redone alone. Over the repetitions, each (estimator, task, n) gets

    * the mean and standard deviation of its estimates, ``bias = mean − I`` and
      ``rmse = sqrt(mean((estimate − I)²))`` against the true MI ``I``;
    * the mean HSIC and nHSIC of the same samples ([`hsic.hsic`][hsic.hsic],
      [`hsic.nhsic`][hsic.nhsic], Gaussian kernels with the median heuristic);
    * Spearman's ρ between its mean estimates and the true MI across the tasks of each family
      (at the same n): does the statistic rank dependence like MI does?
    * the power at level ``alpha`` of the permutation test built on it: the fraction of
      repetitions with ``p = (1 + #{T(x, y∘p_b) ≥ T(x, y)}) / (1 + B) ≤ alpha``, where the B
      permutations ``p_b`` are drawn from the repetition's seed s and are the same for every
      statistic (see the module notes for the exact shortcuts of HSIC, nHSIC and the neural
      bounds);
    * the run time of one estimate and of its B permuted values.

    Args:
      tasks: task names (keys of [`hsic.mi.tasks.TASKS`][hsic.mi.tasks.TASKS]) or
        ``Task`` objects.
      n: one sample size or a list of them.
      repeats: the number of repetitions (independent samples) per task and n, ≥ 1.
      rng: the seed s of the first repetition (repetition r uses ``s + r``): None (default:
        fresh entropy), an int, a ``numpy.random.Generator`` (s is drawn from it) or a JAX key
        (``jax.random.key(s)`` is s). The result's ``config["rng"]`` records s; passing it
        back repeats the comparison.
      estimators: names among ``ESTIMATORS`` (``"ksg"``, ``"gaussian"``, ``"histogram"``,
        ``"kde"``, ``"infonce"``, ``"nwj"``, ``"mine"``, ``"smile"``, ``"hsic"``,
        ``"nhsic"``), or callables ``f(x, y) -> float`` (named by their ``__name__``).
      n_resamples: B, the permutations of each test; 0 runs no tests (power is NaN).
      alpha: the level of the tests.
      options: keyword arguments per estimator name, e.g. ``{"ksg": {"k": 5}}`` or
        ``{"infonce": {"training": hsic.mi.Training(steps=200)}}``. A neural bound takes
        ``critic``, ``training``, ``dtype`` and its own ``tau`` or ``ma_rate``.
      progress: a progress bar over the samples; ``None`` shows it only on a terminal.

    Returns:
      A [`CompareResult`][hsic.mi.CompareResult].

    Raises:
      ValueError: on an unknown task or estimator, a repeated one, a bad ``n``, ``repeats``,
        ``rng``, ``n_resamples``, ``alpha`` or ``options``, or any estimator's own input
        error.

    Example:
      >>> import hsic.mi
      >>> res = hsic.mi.compare(["normal-1d-0.8", "independent-normal-3x3"], n=200, repeats=2,
      ...                       estimators=["gaussian", "hsic"], n_resamples=20, rng=0)
      >>> [(r["estimator"], r["task"], r["power"]) for r in res.records]
      [('gaussian', 'normal-1d-0.8', 1.0), ('gaussian', 'independent-normal-3x3', 0.0),
       ('hsic', 'normal-1d-0.8', 1.0), ('hsic', 'independent-normal-3x3', 0.0)]
      >>> first = res.records[0]
      >>> round(first["true_mi"], 4), first["n_repeats"]
      (0.5108, 2)

    References:
      Czyż, Grabowski, Vogt, Beerenwinkel, Marx (2023), "Beyond normal: on the evaluation of
      mutual information estimators", NeurIPS. Gretton et al. (2008), "A kernel statistical
      test of independence", NIPS 20.
    """
    task_list = _check_tasks(tasks)
    sizes = _check_int_list(n, "n", minimum=8)
    repeats = check_positive_int(repeats, "repeats")
    first_seed = seed_of(rng)
    seed_list = _repeat_seeds(first_seed, repeats)
    n_resamples = check_number(
        n_resamples, "n_resamples", "a non-negative integer (0: no tests)", integer=True, low=0
    )
    alpha = check_probability(alpha, "alpha")
    specs = _specs(estimators, options)
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True, False or None (auto); got {progress!r}.")

    total = len(task_list) * len(sizes) * len(seed_list)
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="compare", unit="sample", leave=False)
    runs = []
    for task in task_list:
        for size in sizes:
            for seed in seed_list:
                x, y = task.sample(size, rng=seed)
                perms = None
                if n_resamples:
                    perms = draw_permutations(as_generator(seed), n_resamples, size, n_resamples)
                h, nh = float(hsic.hsic(x, y)), float(hsic.nhsic(x, y))
                for spec in specs:
                    value, null, seconds, null_seconds = spec.run(x, y, seed, perms)
                    runs.append(dict(
                        estimator=spec.name, task=task.name, family=task.family, n=size,
                        seed=seed, true_mi=float(task.mi), estimate=value,
                        pvalue=_pvalue(null, value),
                        hsic=h, nhsic=nh, time_s=seconds, test_time_s=null_seconds,
                    ))
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    records = _summarise(runs, specs, task_list, sizes, alpha)
    config = dict(
        tasks=[t.name for t in task_list], n=sizes, repeats=repeats,
        rng=first_seed, seeds=seed_list,
        estimators=[s.name for s in specs], n_resamples=n_resamples, alpha=alpha,
        options={k: _plain(v) for k, v in (options or {}).items()},
        machine=platform.platform(), python=platform.python_version(),
        hsic=hsic.__version__, numpy=np.__version__,
    )
    return CompareResult(
        records=tuple(records), runs=tuple(runs), alpha=alpha, n_resamples=n_resamples,
        config=config,
    )


def _summarise(runs, specs, task_list, sizes, alpha) -> list[dict[str, Any]]:
    records = []
    for spec in specs:
        for task in task_list:
            for size in sizes:
                rs = [
                    r for r in runs
                    if r["estimator"] == spec.name and r["task"] == task.name and r["n"] == size
                ]
                est = np.array([r["estimate"] for r in rs])
                pvals = np.array([r["pvalue"] for r in rs])
                true = float(task.mi)
                records.append(dict(
                    estimator=spec.name, task=task.name, family=task.family, n=size,
                    true_mi=true, n_repeats=len(rs), estimate_mean=float(est.mean()),
                    estimate_sd=float(est.std(ddof=1)) if len(est) > 1 else math.nan,
                    bias=float(est.mean() - true) if spec.is_mi else math.nan,
                    rmse=float(np.sqrt(np.mean((est - true) ** 2))) if spec.is_mi else math.nan,
                    spearman_family=math.nan,
                    hsic=float(np.mean([r["hsic"] for r in rs])),
                    nhsic=float(np.mean([r["nhsic"] for r in rs])),
                    power=math.nan if np.isnan(pvals).any() else float(np.mean(pvals <= alpha)),
                    time_s=float(np.median([r["time_s"] for r in rs])),
                    test_time_s=float(np.median([r["test_time_s"] for r in rs])),
                ))
    from scipy.stats import spearmanr  # deferred: scipy.stats is slow to import

    # Spearman's rho within each (estimator, family, n).
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["estimator"], r["family"], r["n"]), []).append(r)
    for group in groups.values():
        true_mis = np.array([r["true_mi"] for r in group])
        est = np.array([r["estimate_mean"] for r in group])
        if len(group) >= 3 and np.ptp(true_mis) > 0 and np.ptp(est) > 0:
            rho = float(spearmanr(true_mis, est).statistic)
            for r in group:
                r["spearman_family"] = rho
    return records
