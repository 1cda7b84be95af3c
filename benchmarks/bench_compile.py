"""Compilations and time of ``hsic.test`` over many sample sizes, two checkouts paired.

Issue 18: each new n used to compile the test's kernels again (~0.3 s, more than the test).
This runs, in fresh subprocesses alternating between two checkouts (A, B, A, B, ...):

* ``loop``: ``hsic.test(x[:n], y[:n])`` for 20 values of n from 100 to 200, with the default
  permutation method and with ``method="gamma"``, from a cold start: the number of XLA
  compilations (JAX's monitoring events) and the total time;
* ``single``: one call at n = 1000 and n = 4000 (permutation with B = 1000 and 250, and
  gamma): the first call (with its compilation) and the median of ``--repeats`` warm calls.

Each workload's result is the median over rounds of the paired ratio ``B / A`` (above 1: B
is slower). Run from the repository root, with the other checkout beside it::

    git worktree add /tmp/hsic-before <commit>
    python benchmarks/bench_compile.py /tmp/hsic-before . --rounds 3

Results go to ``benchmarks/results/compile.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_versions import run_worker, summarise, write_result  # benchmarks/ is on sys.path

HERE = Path(__file__).resolve().parent

#: The workload code run inside each subprocess (arguments: the part, the repeats).
WORKER = r'''
import json, statistics, sys, time
import jax, numpy as np
import hsic

part, repeats = sys.argv[1], int(sys.argv[2])
compiles = [0]
def listener(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles[0] += 1
jax.monitoring.register_event_duration_secs_listener(listener)
rng = np.random.default_rng(0)
out = {}
if part == "loop":
    x = rng.normal(size=200).astype(np.float32)
    y = (x**2 + rng.normal(size=200)).astype(np.float32)
    sizes = [int(n) for n in np.linspace(100, 200, 20)]
    for method in ("permutation", "gamma"):
        compiles[0] = 0
        t = time.perf_counter()
        for n in sizes:
            hsic.test(x[:n], y[:n], method=method, rng=n)
        out[f"{method} loop: seconds"] = time.perf_counter() - t
        out[f"{method} loop: compilations"] = compiles[0]
else:
    for n, B in ((1000, 1000), (4000, 250)):
        x = rng.normal(size=(n, 5)).astype(np.float32)
        y = (np.sin(x) + 0.5 * rng.normal(size=(n, 5))).astype(np.float32)
        for method, name in ((hsic.Permutation(n_resamples=B), f"permutation n={n} B={B}"),
                             ("gamma", f"gamma n={n}")):
            t = time.perf_counter(); hsic.test(x, y, method=method, rng=0)
            out[f"{name}: first call"] = time.perf_counter() - t
            times = []
            for _ in range(repeats):
                t = time.perf_counter(); hsic.test(x, y, method=method, rng=0)
                times.append(time.perf_counter() - t)
            out[f"{name}: warm"] = statistics.median(times)
print(json.dumps(out))
'''


def run_once(checkout: Path, part: str, repeats: int) -> dict[str, float]:
    """One subprocess with ``checkout`` first on the path."""
    return run_worker(checkout, WORKER, part, repeats)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the checkout to compare against (before)")
    parser.add_argument("b", type=Path, help="the checkout under test (after)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="loop,single")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "compile.json")
    args = parser.parse_args(argv)
    rounds = []
    for r in range(args.rounds):
        a, b = {}, {}
        for part in args.parts.split(","):
            order = [(args.a, a), (args.b, b)]
            for checkout, into in order if r % 2 == 0 else order[::-1]:  # ABBA
                into.update(run_once(checkout, part, args.repeats))
        rounds.append({"a": a, "b": b})
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    write_result(args, summarise(rounds), rounds)


if __name__ == "__main__":
    main()
