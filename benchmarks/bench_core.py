"""Core speed benchmark: ``hsic`` against hyppo, dcor and a plain NumPy HSIC, on the CPU.

What is timed, at each n (d = 5 for both x and y, y a noisy nonlinear function of x):

* statistic: ``hsic.hsic(x, y)`` against ``hyppo.independence.Hsic().statistic``,
  ``dcor.distance_correlation`` and a plain NumPy biased HSIC (median-heuristic Gaussian kernels,
  full pairwise distances, ``np.median``, ``tr(KHLH)/n²`` by centring);
* permutation test with B permutations: ``hsic.test(method="permutation")`` against
  ``Hsic().test(reps=B, auto=False)`` and ``dcor.independence.distance_covariance_test``;
* fast approximate test: ``hsic.test(method="gamma")`` against ``Hsic().test(auto=True)``
  (hyppo's chi-square approximation).

Timings are medians of wall-clock seconds over a few repeats, after warm-up. JAX results are
forced with ``block_until_ready`` / ``float``; the JIT compile time of ``hsic`` (first call at a
new shape minus the warm median) is reported separately. hyppo and dcor are warmed up on a tiny
input first (their numba compilation), and that warm-up is reported separately too. A peer that
took more than 60 s at some n is not run at larger n: its time is extrapolated (O(n²)) and the
row is marked ``skipped``. A cold start (fresh interpreter: ``import hsic`` plus the first
``hsic.test`` at n = 500) is timed in subprocesses.

The machine may be shared and noisy: compare the ratios (peer / hsic), not the absolute times.

Run from the repository root::

    python benchmarks/bench_core.py            # full run (~30 min on 2 idle cores)
    python benchmarks/bench_core.py --quick    # smoke run: n in {500, 1000}, B = 200

Results go to ``benchmarks/results/core.json`` and ``core.csv`` (``core_quick.*`` with
``--quick``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

D = 5
SEED = 0
#: A peer slower than this at some n is not run at larger n (its time is extrapolated).
SKIP_AFTER_S = 60.0
#: Calls slower than this are timed once.
SLOW_S = 20.0
#: Calls faster than this get 5 repeats; slower ones 3 (then 1 beyond SLOW_S).
FAST_S = 2.0

#: The comparisons: (operation, our implementation, peers).
OPERATIONS = ("statistic", "permutation", "gamma")

TARGETS = [
    # (name, operation, n, peer, minimum ratio peer/ours)
    ("permutation test B=1000, n=1000: >= 100x faster than hyppo permutation", "permutation",
     1000, "hyppo", 100.0),
    ("statistic n=8000: >= 20x faster than hyppo statistic", "statistic", 8000, "hyppo", 20.0),
    ("statistic n=8000: >= 5x faster than dcor.distance_correlation", "statistic", 8000, "dcor",
     5.0),
    ("gamma test n=8000: >= 10x faster than hyppo auto=True", "gamma", 8000, "hyppo", 10.0),
]
COLD_START_TARGET_S = 5.0


# --------------------------------------------------------------------------------------------
# Data and the plain NumPy reference
# --------------------------------------------------------------------------------------------


def make_data(n: int, d: int = D, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(0, I_d); y = sin(x) + x²/2 (coordinate-wise, rotated) + noise: dependent."""
    rng = np.random.default_rng(seed + n)
    x = rng.normal(size=(n, d))
    mix = rng.normal(size=(d, d)) / math.sqrt(d)
    y = (np.sin(x) + 0.5 * x**2) @ mix + 0.5 * rng.normal(size=(n, d))
    return x, y


def numpy_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Plain NumPy biased HSIC, ``tr(KHLH)/n²``, Gaussian kernels with the median heuristic.

    Full pairwise distances, the median over all pairs i < j (no subsampling), float64, and
    ``tr(KHLH) = Σ (HKH)∘L``.
    """
    n = x.shape[0]
    iu = np.triu_indices(n, 1)

    def gram(a):
        sq = np.sum(a * a, axis=1)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (a @ a.T)
        np.maximum(d2, 0.0, out=d2)
        np.fill_diagonal(d2, 0.0)
        sigma = np.median(np.sqrt(d2[iu]))
        return np.exp(-d2 / (2.0 * sigma * sigma))

    K = gram(x)
    L = gram(y)
    Kc = K - K.mean(axis=0)[None, :] - K.mean(axis=1)[:, None] + K.mean()
    return float(np.sum(Kc * L) / (n * n))


# --------------------------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------------------------


def _clock(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def alternate(ours, peer, rounds: int):
    """Call ``ours`` then ``peer``, ``rounds`` times (the caller warms both up first), so that
    both see the same load. Returns their times, the 1-minute load average of each round and
    the last value each returned."""
    ours_t, peer_t, loads = [], [], []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        t0 = time.perf_counter()
        ours_value = ours()
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        peer_value = peer()
        peer_t.append(time.perf_counter() - t0)
    return ours_t, peer_t, loads, ours_value, peer_value


def time_calls(fn, *, first_counts: bool) -> dict:
    """Time ``fn`` (which must return a concrete, synchronised value).

    The first call is timed alone. With ``first_counts`` (peers, already warmed up on a tiny
    input) it is one of the repeats; otherwise (JAX at a new shape) it holds the compilation and
    is reported as ``first_call_s``, and the repeats are the warm calls after it, except when the
    first call took over SKIP_AFTER_S: it is then the only timing (``compile_included``). The
    number of repeats depends on the speed: 5 under FAST_S, 3 under SLOW_S, else 1.
    """
    first, value = _clock(fn)
    times = [first] if first_counts else []
    once = not first_counts and first > SKIP_AFTER_S
    if once:
        # Compilation (0.2-3 s here) is under 5 % of such a call: time it once, compile included,
        # rather than spend minutes on a second call.
        times.append(first)
    if not first_counts and not once:
        t, value = _clock(fn)
        times.append(t)
    probe = times[-1]
    repeats = 5 if probe < FAST_S else (3 if probe < SLOW_S else 1)
    while len(times) < repeats:
        t, value = _clock(fn)
        times.append(t)
    median = statistics.median(times)
    out = {
        "status": "ok",
        "median_s": median,
        "times_s": times,
        "repeats": len(times),
        "first_call_s": first,
        "value": value,
    }
    if once:
        out["compile_included"] = True
    elif not first_counts:
        out["compile_s"] = max(first - median, 0.0)
    return out


def quiet(fn):
    """Call ``fn`` with the peers' warnings (numba, deprecations) silenced."""

    def wrapped():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return wrapped


# --------------------------------------------------------------------------------------------
# Roofline: what this machine can do, measured in the same run as the comparisons
# --------------------------------------------------------------------------------------------


def _best_of(fn, repeats: int) -> float:
    """The least CPU time of ``repeats`` calls of ``fn`` after one warm-up call (seconds, all
    threads of this process together). On a shared machine the wall clock mostly measures the
    other jobs (a niced process may get a tenth of a core), so the roofline and the engine are
    both timed in CPU seconds: work per CPU-second is what the hardware can do per core."""
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5) -> dict:
    """Copy bandwidth: ``np.copyto`` of a float32 array of ``nbytes`` into another (one thread,
    a ``memcpy``). Bytes moved = 2·nbytes (read + write). 256 MiB is far past the caches (DRAM);
    an n × n matrix at n = 1000 (4 MB) sits in the L3 cache.

    Returns ``{"bytes": ..., "seconds": ..., "gb_per_s": bytes moved / seconds / 1e9}``.
    """
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    t = _best_of(lambda: np.copyto(dst, src), repeats)
    return {"bytes": nbytes, "seconds": t, "gb_per_s": 2 * nbytes / t / 1e9}


def read_bandwidth(n: int, repeats: int = 5) -> dict:
    """Read rate of a jitted ``jnp.sum(A * B)`` over two n × n float32 matrices (JAX, the
    engine's compiler): bytes moved = 2·4·n²."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = jax.device_put(rng.random((n, n), dtype=np.float32))
    b = jax.device_put(rng.random((n, n), dtype=np.float32))
    f = jax.jit(lambda a, b: jnp.sum(a * b))
    t = _best_of(lambda: f(a, b).block_until_ready(), repeats)
    return {"n": n, "bytes": 8 * n * n, "seconds": t, "gb_per_s": 8 * n * n / t / 1e9}


def gather_rate(n: int, repeats: int = 5) -> dict:
    """Random-gather rate within an n × n float32 matrix: ``np.take`` of n² entries at
    uniformly random positions (precomputed indices, preallocated output; one thread).

    Returns the gathered entries per second and the same as useful bytes
    (``gb_per_s`` = 4 bytes per entry ÷ time; a cache miss moves a 64-byte line, so the
    memory traffic is larger once the matrix outgrows the cache).
    """
    rng = np.random.default_rng(0)
    flat = rng.random(n * n, dtype=np.float32)
    idx = rng.integers(0, n * n, size=n * n, dtype=np.intp)
    out = np.empty(n * n, dtype=np.float32)
    t = _best_of(lambda: np.take(flat, idx, out=out), repeats)
    return {"n": n, "entries": n * n, "seconds": t, "entries_per_s": n * n / t,
            "gb_per_s": 4 * n * n / t / 1e9}


def permuted_gather_rate(n: int, repeats: int = 5) -> dict:
    """The permutation engine's own access pattern, in NumPy (one thread): ``L[np.ix_(p, p)]``
    for a random permutation p of an n × n float32 matrix, n² entries, each a random read
    within a row (the rows themselves in random order). Entries per CPU-second."""
    rng = np.random.default_rng(0)
    L = rng.random((n, n), dtype=np.float32)
    p = rng.permutation(n)
    ix = np.ix_(p, p)
    t = _best_of(lambda: L[ix], repeats)
    return {"n": n, "entries": n * n, "seconds": t, "entries_per_s": n * n / t,
            "gb_per_s": 4 * n * n / t / 1e9}


def gemm_rate(n: int = 2000, repeats: int = 3) -> dict:
    """float32 GEMM rate, n × n by n × n (2n³ flops), with NumPy (OpenBLAS, all threads) and
    with a jitted ``jnp.dot`` (XLA): ``{"numpy_gflop_per_s": ..., "jax_gflop_per_s": ...}``."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    t_np = _best_of(lambda: a @ b, repeats)
    ja, jb = jax.device_put(a), jax.device_put(b)
    f = jax.jit(jnp.dot)
    t_jax = _best_of(lambda: f(ja, jb).block_until_ready(), repeats)
    return {"n": n, "flops": flops, "numpy_s": t_np, "jax_s": t_jax,
            "numpy_gflop_per_s": flops / t_np / 1e9, "jax_gflop_per_s": flops / t_jax / 1e9}


def roofline(sizes=(1000, 4000)) -> dict:
    """This machine's limits, for the kernels' achieved fractions: copy bandwidth (DRAM, and
    at the size of one n × n float32 matrix), the read rate of ``jnp.sum(A * B)``, the
    random-gather rate within an n × n float32 matrix, and the float32 GEMM rate; with the
    load average when measured."""
    out = {"loadavg": list(os.getloadavg()), "copy": copy_bandwidth(),
           "copy_matrix": {n: copy_bandwidth(4 * n * n) for n in sizes},
           "read": {n: read_bandwidth(n) for n in sizes},
           "gather": {n: gather_rate(n) for n in sizes},
           "permuted_gather": {n: permuted_gather_rate(n) for n in sizes}, "gemm": gemm_rate()}
    return out


def print_roofline(r: dict) -> None:
    print(f"roofline, per CPU-second (load {r['loadavg'][0]:.2f}): copy "
          f"{r['copy']['gb_per_s']:.1f} GB/s (256 MiB); GEMM float32 "
          f"{r['gemm']['numpy_gflop_per_s']:.0f} GFLOP/s NumPy, "
          f"{r['gemm']['jax_gflop_per_s']:.0f} JAX", flush=True)
    for n in r["gather"]:
        print(f"  n={n:5d}: copy of an n×n matrix {r['copy_matrix'][n]['gb_per_s']:.1f} GB/s; "
              f"jnp.sum(A*B) reads {r['read'][n]['gb_per_s']:.1f} GB/s; random gather "
              f"{r['gather'][n]['entries_per_s'] / 1e6:.0f} M entries/s "
              f"({r['gather'][n]['gb_per_s']:.2f} GB/s useful); L[ix_(p, p)] "
              f"{r['permuted_gather'][n]['entries_per_s'] / 1e6:.0f} M entries/s", flush=True)


def permutation_data(n: int, d: int = D, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Issue 15's permutation workload: x ~ N(0, I_d), y = x₁² + N(0, I_d) (each column)."""
    rng = np.random.default_rng(seed + n)
    x = rng.normal(size=(n, d))
    return x, x[:, :1] ** 2 + rng.normal(size=(n, d))


def engine_per_permutation(n: int, count: int = 40, repeats: int = 5) -> dict:
    """The permutation engine alone (``permuted_sums`` on the bucketed size m of n, float32):
    the least CPU time of ``repeats`` warm calls over ``count`` permutations, per
    permutation, and
    what it moves: the gathered entries of L̄ (``m·(m/2 + r)``, a random read within a row
    each) and the bytes read (those entries and the same count of weighted K̄ entries, 4 B
    each)."""
    import jax
    import jax.numpy as jnp

    from hsic._nulls.permutation import (
        PERMUTATION_ROWS,
        draw_permutations,
        pad_rows,
        permuted_sums,
    )
    from hsic._stats.gram import bucket_size

    m = bucket_size(n)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, m, m)).astype(np.float32)
    Kp, L = pad_rows(jnp.asarray(a + a.T)), jax.device_put(b + b.T)
    perms = jax.device_put(draw_permutations(rng, count, m, count))
    t = _best_of(lambda: permuted_sums(Kp, L, perms).block_until_ready(), repeats) / count
    r = min(PERMUTATION_ROWS, m)
    entries = -(-m // r) * r * (m // 2 + r)
    return {"n": n, "m": m, "rows": r, "seconds": t, "gathered_entries": entries,
            "bytes_read": 8 * entries, "gb_per_s": 8 * entries / t / 1e9,
            "entries_per_s": entries / t}


def permutation_comparison(args) -> dict:
    """Issue 15's comparison, in one run: the roofline, the engine per permutation, and
    ``hsic.test(method=Permutation(B))`` against hyppo (n = 500, 1000) and dcor (n = 4000;
    ``--dcor-permutations`` rounds, the ratio per permutation), alternating after warm-up."""
    import hsic

    B = args.permutations
    info = machine_info()
    print(f"permutation comparison: B={B}, d={D}, load {info['loadavg_start']}", flush=True)
    roof = roofline((1000, 4000))
    print_roofline(roof)
    engine = []
    for n in (500, 1000, 4000):
        e = engine_per_permutation(n, count=40 if n < 2000 else 6, repeats=5 if n < 2000 else 3)
        g = roof["permuted_gather"][1000 if n <= 1000 else 4000]
        e["gather_bound_s"] = e["gathered_entries"] / g["entries_per_s"]
        e["bandwidth_bound_s"] = e["bytes_read"] / (roof["copy"]["gb_per_s"] * 1e9)
        e["fraction_of_gather_bound"] = e["gather_bound_s"] / e["seconds"]
        e["fraction_of_bandwidth_bound"] = e["bandwidth_bound_s"] / e["seconds"]
        engine.append(e)
        print(f"  engine n={n} (m={e['m']}): {e['seconds'] * 1e3:.3f} ms/permutation; "
              f"{e['gathered_entries'] / 1e6:.3f} M gathered entries -> "
              f"{e['entries_per_s'] / 1e6:.0f} M/s = {e['fraction_of_gather_bound']:.0%} of "
              f"NumPy's L[ix_(p, p)] rate; {e['bytes_read'] / 1e6:.2f} MB read -> "
              f"{e['gb_per_s']:.2f} GB/s = {e['fraction_of_bandwidth_bound']:.0%} of the copy "
              "bandwidth", flush=True)
    rows = []
    for n, peer in ((500, "hyppo"), (1000, "hyppo"), (4000, "dcor")):
        x, y = permutation_data(n)
        reps = B if peer == "hyppo" else args.dcor_permutations
        peer_fn = (hyppo_impl(B) if peer == "hyppo" else dcor_impl(B))["permutation"](
            x, y, reps=reps)

        def mine(x=x, y=y):
            res = hsic.test(x, y, method=hsic.Permutation(n_resamples=B), rng=SEED)
            return {"statistic": float(res.statistic), "pvalue": float(res.pvalue)}

        t_first, _ = _clock(mine)
        peer_fn_warm = (hyppo_impl(B) if peer == "hyppo" else dcor_impl(B))["permutation"](
            *permutation_data(30), reps=10)
        peer_fn_warm()  # numba compilation
        rounds = args.rounds
        ours_t, peer_t, loads, ours_v, peer_v = alternate(mine, peer_fn, rounds)
        ours_s, peer_s = statistics.median(ours_t), statistics.median(peer_t)
        per_perm_ratio = (peer_s / reps) / (ours_s / B)
        row = {"n": n, "d": D, "B": B, "peer": peer, "peer_B": reps, "ours_s": ours_s,
               "peer_s": peer_s, "ours_times_s": ours_t, "peer_times_s": peer_t,
               "ours_first_call_s": t_first, "loadavg_rounds": loads,
               "ratio_per_permutation": per_perm_ratio, "ours": ours_v, "peer_value": peer_v}
        rows.append(row)
        print(f"  n={n}: hsic {ours_s:.3f} s (B={B}; first call {t_first:.2f} s) vs {peer} "
              f"{peer_s:.3f} s (B={reps}): {per_perm_ratio:.1f}x per permutation; load "
              f"{[round(v, 1) for v in loads]}", flush=True)
    info["loadavg_end"] = list(os.getloadavg())
    return {"machine": info, "roofline": roof, "engine": engine, "rows": rows,
            "settings": {"B": B, "d": D, "rounds": args.rounds,
                         "dcor_permutations": args.dcor_permutations,
                         "data": permutation_data.__doc__,
                         "command": " ".join([Path(sys.executable).name] + sys.argv)}}


# --------------------------------------------------------------------------------------------
# The implementations
# --------------------------------------------------------------------------------------------


def ours(B: int):
    import hsic

    def statistic(x, y):
        return lambda: float(hsic.hsic(x, y).block_until_ready())

    def permutation(x, y):
        def run():
            res = hsic.test(x, y, method=hsic.Permutation(n_resamples=B))
            return {"statistic": float(res.statistic), "pvalue": float(res.pvalue)}

        return run

    def gamma(x, y):
        def run():
            res = hsic.test(x, y, method="gamma")
            return {"statistic": float(res.statistic), "pvalue": float(res.pvalue)}

        return run

    return {"statistic": statistic, "permutation": permutation, "gamma": gamma}


def hyppo_impl(B: int):
    from hyppo.independence import Hsic

    def statistic(x, y):
        return quiet(lambda: float(Hsic().statistic(x, y)))

    def permutation(x, y, reps=B):
        def run():
            stat, pvalue = Hsic().test(x, y, reps=reps, auto=False)[:2]
            return {"statistic": float(stat), "pvalue": float(pvalue)}

        return quiet(run)

    def gamma(x, y):
        def run():
            stat, pvalue = Hsic().test(x, y, auto=True)[:2]
            return {"statistic": float(stat), "pvalue": float(pvalue)}

        return quiet(run)

    return {"statistic": statistic, "permutation": permutation, "gamma": gamma}


def dcor_impl(B: int):
    import dcor

    def statistic(x, y):
        return quiet(lambda: float(dcor.distance_correlation(x, y)))

    def permutation(x, y, reps=B):
        def run():
            res = dcor.independence.distance_covariance_test(
                x, y, num_resamples=reps, random_state=SEED
            )
            return {"statistic": float(res.statistic), "pvalue": float(res.pvalue)}

        return quiet(run)

    return {"statistic": statistic, "permutation": permutation}


def numpy_impl(B: int):
    del B
    return {"statistic": lambda x, y: (lambda: numpy_hsic(x, y))}


CALLS = {
    ("hsic", "statistic"): "hsic.hsic(x, y)",
    ("hsic", "permutation"): "hsic.test(x, y, method=hsic.Permutation(n_resamples=B))",
    ("hsic", "gamma"): "hsic.test(x, y, method='gamma')",
    ("hyppo", "statistic"): "hyppo Hsic().statistic(x, y)",
    ("hyppo", "permutation"): "hyppo Hsic().test(x, y, reps=B, auto=False)",
    ("hyppo", "gamma"): "hyppo Hsic().test(x, y, auto=True)  (chi2 approx)",
    ("dcor", "statistic"): "dcor.distance_correlation(x, y)",
    ("dcor", "permutation"): "dcor.independence.distance_covariance_test(x, y, num_resamples=B)",
    ("numpy", "statistic"): "plain NumPy biased HSIC (median heuristic, float64)",
}


def warm_up_peers(peers: dict, B: int) -> list[dict]:
    """Call every peer function once on tiny inputs (numba compilation); return the times."""
    out = []
    x, y = make_data(30)  # n > 20 so that hyppo's auto=True takes its chi-square path
    for name, impl in peers.items():
        for op, factory in impl.items():
            if name == "numpy":
                continue
            fn = factory(x, y, reps=10) if op == "permutation" else factory(x, y)
            t, _ = _clock(fn)
            out.append({"impl": name, "op": op, "warmup_s": t, "call": CALLS[(name, op)]})
            print(f"  warm-up {name:6s} {op:12s} {t:8.2f} s", flush=True)
    return out


# --------------------------------------------------------------------------------------------
# Cold start
# --------------------------------------------------------------------------------------------

_COLD_SCRIPT = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {repo!r})
rng = np.random.default_rng(0)
x = rng.normal(size=(500, 5))
y = np.sin(x) + 0.5 * rng.normal(size=(500, 5))
t0 = time.perf_counter()
import hsic
t1 = time.perf_counter()
res = hsic.test(x, y)
p = float(res.pvalue)
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_test_s": t2 - t1, "total_s": t2 - t0,
                  "pvalue": p, "n_resamples": res.info["n_resamples"]}}))
"""


def cold_start(runs: int) -> dict:
    """``import hsic`` + the first ``hsic.test(x, y)`` (n = 500, defaults) in fresh processes."""
    results = []
    script = _COLD_SCRIPT.format(repo=str(REPO))
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            return {"status": "error", "error": proc.stderr[-2000:]}
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["process_wall_s"] = wall
        results.append(row)
    return {
        "status": "ok",
        "runs": results,
        "median_total_s": statistics.median(r["total_s"] for r in results),
        "median_import_s": statistics.median(r["import_s"] for r in results),
        "median_first_test_s": statistics.median(r["first_test_s"] for r in results),
        "median_process_wall_s": statistics.median(r["process_wall_s"] for r in results),
    }


# --------------------------------------------------------------------------------------------
# Main loop
# --------------------------------------------------------------------------------------------


def machine_info() -> dict:
    import jax

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(dev) for dev in jax.devices()],
        "jax_x64": bool(jax.config.jax_enable_x64),
        "numpy": np.__version__,
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["hsic_source"] = git_state()
    for mod in ("hsic", "hyppo", "dcor", "scipy", "numba"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing peer is recorded, not fatal
            info[mod] = None
    return info


def git_state() -> dict:
    """The commit of the source tree timed, and whether ``hsic/`` had uncommitted changes."""

    def git(*cmd):
        proc = subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=REPO)
        return proc.stdout.strip() if proc.returncode == 0 else None

    diff = git("diff", "HEAD", "--", "hsic")
    return {
        "commit": git("rev-parse", "HEAD"),
        "hsic_dirty": bool(diff),
        "hsic_diff_stat": git("diff", "HEAD", "--stat", "--", "hsic"),
        "hsic_diff_sha1": None if not diff else __import__("hashlib").sha1(
            diff.encode()).hexdigest(),
    }


def breakdown(n: int) -> list[dict]:
    """Where ``hsic.hsic``'s time goes: the median heuristic vs the statistic given bandwidths.

    Uses only the public API: ``hsic.kernels.median_distance`` (one variable) and
    ``hsic.hsic`` with ``Gaussian(bandwidth=σ)`` kernels fixed in advance.
    """
    import hsic
    from hsic.kernels import Gaussian, median_distance

    x, y = make_data(n)
    xs, ys = x.astype(np.float32), y.astype(np.float32)
    sx, sy = median_distance(xs), median_distance(ys)
    kx, ky = Gaussian(bandwidth=sx), Gaussian(bandwidth=sy)
    parts = {
        "median_distance(x)  (one variable)": lambda: float(median_distance(xs)),
        "hsic.hsic, bandwidths given": lambda: float(
            hsic.hsic(x, y, kernel_x=kx, kernel_y=ky).block_until_ready()),
    }
    out = []
    for what, fn in parts.items():
        row = {"n": n, "part": what, **time_calls(fn, first_counts=False)}
        out.append(row)
        print(f"  n={n:5d} breakdown {what:36s} {row['median_s']:8.4f} s "
              f"(compile {row['compile_s']:.2f} s)", flush=True)
    return out


def extrapolate(history: list[tuple[int, float]], n: int) -> float:
    """O(n²) extrapolation from the largest n timed."""
    n0, t0 = history[-1]
    return t0 * (n / n0) ** 2


def run(args) -> dict:
    sizes = args.sizes
    B = args.permutations
    print(f"hsic core benchmark: sizes={sizes}, d={D}, B={B}, peers={not args.skip_peers}")
    info = machine_info()
    print(f"  {info['platform']}, {info['cpu_count']} CPUs, python {info['python']}, "
          f"jax {info['jax']} ({info['jax_backend']}), load {info['loadavg_start']}")

    cold = None
    if not args.skip_cold_start:
        print("cold start (fresh process: import hsic + first hsic.test at n=500) ...",
              flush=True)
        cold = cold_start(args.cold_runs)
        if cold["status"] == "ok":
            print(f"  median {cold['median_total_s']:.2f} s (import "
                  f"{cold['median_import_s']:.2f} s, first test "
                  f"{cold['median_first_test_s']:.2f} s); whole process "
                  f"{cold['median_process_wall_s']:.2f} s", flush=True)
        else:
            print("  cold start FAILED:\n" + cold["error"])

    impls = {"hsic": ours(B), "numpy": numpy_impl(B)}
    warmups = []
    if not args.skip_peers:
        impls["hyppo"] = hyppo_impl(B)
        impls["dcor"] = dcor_impl(B)
        print("warming up peers on n=30 (numba compilation) ...", flush=True)
        warmups = warm_up_peers({k: impls[k] for k in ("hyppo", "dcor")}, B)

    rows = []
    history: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for n in sizes:
        x, y = make_data(n)
        for op in OPERATIONS:
            ours_row = None
            for name, impl in impls.items():
                if op not in impl:
                    continue
                key = (name, op)
                row = {"n": n, "d": D, "B": B if op == "permutation" else None, "op": op,
                       "impl": name, "call": CALLS[key]}
                past = history.get(key, [])
                if name != "hsic" and past and max(t for _, t in past) > SKIP_AFTER_S:
                    est = extrapolate(past, n)
                    row.update(status="skipped", estimated_s=est, repeats=0)
                    print(f"  n={n:5d} {op:12s} {name:6s} skipped (est. {est:8.1f} s)",
                          flush=True)
                else:
                    try:
                        fn = impl[op](x, y)
                        row.update(time_calls(fn, first_counts=name != "hsic"))
                    except Exception as exc:  # noqa: BLE001 - record and carry on
                        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
                        print(f"  n={n:5d} {op:12s} {name:6s} ERROR {row['error']}", flush=True)
                    else:
                        history.setdefault(key, []).append((n, row["median_s"]))
                        extra = (f"compile {row['compile_s']:.2f} s" if "compile_s" in row
                                 else ("(compile included)" if row.get("compile_included")
                                       else ""))
                        print(f"  n={n:5d} {op:12s} {name:6s} {row['median_s']:9.3f} s "
                              f"(x{row['repeats']}) {extra}", flush=True)
                if name == "hsic":
                    ours_row = row
                if ours_row is not None and ours_row.get("status") == "ok" and name != "hsic":
                    peer_s = row.get("median_s", row.get("estimated_s"))
                    if peer_s is not None:
                        row["ratio_vs_hsic"] = peer_s / ours_row["median_s"]
                        row["ratio_vs_hsic_first_call"] = peer_s / ours_row["first_call_s"]
                rows.append(row)
        # statistic agreement with the NumPy reference (same definition; note that hsic's median
        # heuristic uses at most 1000 evenly spaced rows, so bandwidths differ for n > 1000)
        ref = next((r for r in rows if r["n"] == n and r["impl"] == "numpy"
                    and r.get("status") == "ok"), None)
        mine = next((r for r in rows if r["n"] == n and r["impl"] == "hsic"
                     and r["op"] == "statistic" and r.get("status") == "ok"), None)
        if ref and mine:
            mine["rel_diff_vs_numpy"] = abs(mine["value"] - ref["value"]) / abs(ref["value"])

    parts = []
    if not args.skip_breakdown:
        print("breakdown of hsic.hsic ...", flush=True)
        for n in sizes:
            parts.extend(breakdown(n))

    targets = check_targets(rows, cold, B)
    info["loadavg_end"] = list(os.getloadavg())
    return {"machine": info, "settings": {"sizes": sizes, "d": D, "B": B, "seed": SEED,
                                          "skip_after_s": SKIP_AFTER_S, "quick": args.quick,
                                          "data": make_data.__doc__,
                                          "command": " ".join([Path(sys.executable).name]
                                                              + sys.argv)},
            "cold_start": cold, "peer_warmup": warmups, "rows": rows, "breakdown": parts,
            "targets": targets}


def check_targets(rows: list[dict], cold: dict | None, B: int) -> list[dict]:
    out = []
    for name, op, n, peer, minimum in TARGETS:
        row = next((r for r in rows if r["op"] == op and r["n"] == n and r["impl"] == peer),
                   None)
        ratio = None if row is None else row.get("ratio_vs_hsic")
        if op == "permutation" and B != 1000:
            ratio = None
        if ratio is None:
            verdict = "N/A"
        else:
            verdict = "PASS" if ratio >= minimum else "FAIL"
            if row.get("status") == "skipped":
                verdict += " (estimated)"
        out.append({"target": name, "ratio": ratio, "minimum": minimum, "verdict": verdict})
    if cold is not None and cold.get("status") == "ok":
        total = cold["median_total_s"]
        out.append({"target": "cold start (import hsic + first hsic.test, n=500) < 5 s",
                    "seconds": total, "maximum": COLD_START_TARGET_S,
                    "verdict": "PASS" if total < COLD_START_TARGET_S else "FAIL"})
    else:
        out.append({"target": "cold start (import hsic + first hsic.test, n=500) < 5 s",
                    "verdict": "N/A"})
    return out


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

CSV_FIELDS = ["n", "d", "B", "op", "impl", "status", "median_s", "repeats", "first_call_s",
              "compile_s", "compile_included", "estimated_s", "ratio_vs_hsic",
              "ratio_vs_hsic_first_call", "statistic", "pvalue", "rel_diff_vs_numpy", "times_s",
              "call", "error"]


def _flat(row: dict) -> dict:
    out = {k: row.get(k) for k in CSV_FIELDS}
    value = row.get("value")
    if isinstance(value, dict):
        out["statistic"], out["pvalue"] = value.get("statistic"), value.get("pvalue")
    else:
        out["statistic"] = value
    if row.get("times_s") is not None:
        out["times_s"] = " ".join(f"{t:.4f}" for t in row["times_s"])
    return out


def _fmt(v, spec=".3f"):
    return "" if v is None else format(v, spec)


def print_table(result: dict) -> None:
    rows = result["rows"]
    print()
    print(f"{'n':>5} {'operation':12} {'impl':6} {'median s':>10} {'reps':>4} "
          f"{'compile s':>9} {'peer/hsic':>10}  status")
    print("-" * 72)
    for r in rows:
        secs = r.get("median_s", r.get("estimated_s"))
        secs_s = _fmt(secs, ".4f") if r.get("status") != "skipped" else f"~{secs:.0f}"
        ratio = r.get("ratio_vs_hsic")
        ratio_s = "" if ratio is None else (f"{ratio:.1f}x" if r.get("status") == "ok"
                                            else f"~{ratio:.0f}x")
        comp = "incl." if r.get("compile_included") else _fmt(r.get("compile_s"), ".2f")
        print(f"{r['n']:>5} {r['op']:12} {r['impl']:6} {secs_s:>10} {r.get('repeats', 0):>4} "
              f"{comp:>9} {ratio_s:>10}  {r.get('status')}")
    if result["breakdown"]:
        print("\nbreakdown of hsic.hsic (warm medians):")
        for b in result["breakdown"]:
            print(f"  n={b['n']:5d} {b['part']:36s} {b['median_s']:8.4f} s")
    if result["peer_warmup"]:
        print("\npeer warm-up on n=30 (numba compilation, first call in the process):")
        for w in result["peer_warmup"]:
            print(f"  {w['impl']:6} {w['op']:12} {w['warmup_s']:8.2f} s")
    cold = result["cold_start"]
    if cold and cold.get("status") == "ok":
        print(f"\ncold start (median of {len(cold['runs'])}): import {cold['median_import_s']:.2f}"
              f" s + first hsic.test {cold['median_first_test_s']:.2f} s = "
              f"{cold['median_total_s']:.2f} s (whole process {cold['median_process_wall_s']:.2f}"
              " s)")
    print("\ntargets:")
    for t in result["targets"]:
        detail = (f"ratio {t['ratio']:.1f}x (need >= {t['minimum']:g}x)" if t.get("ratio")
                  else (f"{t['seconds']:.2f} s" if t.get("seconds") is not None else ""))
        print(f"  [{t['verdict']}] {t['target']}  {detail}")
    m = result["machine"]
    print(f"\nload average start {m['loadavg_start']}, end {m['loadavg_end']}")


def write_outputs(result: dict, prefix: Path) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.with_suffix(".json"), "w") as f:
        json.dump(result, f, indent=2, default=float)
    with open(prefix.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow(_flat(row))
    print(f"\nwrote {prefix.with_suffix('.json')} and {prefix.with_suffix('.csv')}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: n in {500, 1000}, B = 200 (unless given)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="sample sizes (default 500 1000 2000 4000 8000)")
    parser.add_argument("--permutations", type=int, default=None,
                        help="B for the permutation tests (default 1000; 200 with --quick)")
    parser.add_argument("--skip-peers", action="store_true",
                        help="time hsic and the NumPy reference only (no hyppo, no dcor)")
    parser.add_argument("--skip-cold-start", action="store_true",
                        help="do not time the fresh-process cold start")
    parser.add_argument("--skip-breakdown", action="store_true",
                        help="do not time the parts of hsic.hsic (median heuristic, statistic)")
    parser.add_argument("--cold-runs", type=int, default=3,
                        help="fresh processes for the cold start (median reported)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output prefix (default benchmarks/results/core, or core_quick)")
    parser.add_argument("--permutation", action="store_true",
                        help="only issue 15's permutation comparison with the roofline "
                             "(hyppo at n = 500, 1000; dcor at n = 4000)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternating rounds of the --permutation comparison")
    parser.add_argument("--dcor-permutations", type=int, default=100,
                        help="dcor's permutations in the --permutation comparison (the ratio "
                             "is per permutation)")
    args = parser.parse_args(argv)
    if args.permutation:
        args.permutations = args.permutations or 1000
        result = permutation_comparison(args)
        out = args.out or REPO / "benchmarks" / "results" / "permutation_roofline"
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.with_suffix(".json"), "w") as f:
            json.dump(result, f, indent=2, default=float)
        print(f"wrote {out.with_suffix('.json')}")
        return
    if args.sizes is None:
        args.sizes = [500, 1000] if args.quick else [500, 1000, 2000, 4000, 8000]
    if args.permutations is None:
        args.permutations = 200 if args.quick else 1000
    if args.out is None:
        args.out = REPO / "benchmarks" / "results" / ("core_quick" if args.quick else "core")

    result = run(args)
    print_table(result)
    write_outputs(result, args.out)


if __name__ == "__main__":
    main()
