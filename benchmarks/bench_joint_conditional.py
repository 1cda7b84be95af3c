"""Joint and conditional tests against their peers, at n = 1000 (one run).

What is timed (wall-clock medians after a warm-up call, results forced to the host):

* ``hsic.joint_test([x, y, z], method=hsic.Permutation(n_resamples=B))`` against hyppo's
  ``hyppo.d_variate.dHsic().test(x, y, z, reps=B)`` (d = 3 variables, B permutations each;
  hyppo recomputes the Gram matrices for every permutation);
* ``hsic.conditional_test(x, y, z, method="kci")`` (gamma null) against causal-learn's
  ``KCI_CInd().compute_pvalue`` (its default, the gamma approximation);
* ``hsic.conditional_test(x, y, z, method=hsic.RCIT(n_features=100))`` against
  causal-learn's RCIT through ``causallearn.utils.cit.CIT(data, "rcit")`` (100 features of z
  on both sides; our default grows them with n, see ``hsic.RCIT.z_features``).

The JIT compile time of ``hsic`` (first call at a new shape minus the warm median) is reported
apart; peers are warmed up on a small input first. The machine may be shared and noisy: quote
the ratios (peer / hsic), not the seconds.

Run from the repository root::

    python benchmarks/bench_joint_conditional.py            # n = 1000, B = 1000
    python benchmarks/bench_joint_conditional.py --quick    # n = 300, B = 100
    python benchmarks/bench_joint_conditional.py --only rcit --out benchmarks/results/rcit

``--only`` runs some of the comparisons (``joint``, ``kci``, ``rcit``); the joint one takes
~15 minutes, mostly hyppo. RCIT, a job of tens of milliseconds for both, is timed **in
alternation** (ours, causal-learn, ours, ...; ``--paired`` rounds) and reported as the median
of the per-round ratios, with the 1-minute load average of each round.

Results go to ``benchmarks/results/joint_conditional.json`` (``..._quick.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

from bench_core import alternate, machine_info  # noqa: E402  (benchmarks/ is the script's directory)

import hsic  # noqa: E402

TARGET = 10.0


def joint_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, n))
    z = np.sin(x) * y + 0.5 * rng.normal(size=n)
    return x, y, z


def conditional_data(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x = np.sin(2 * z) + 0.5 * rng.normal(size=n)
    y = z**2 + 0.5 * rng.normal(size=n)
    return x, y, z


def timed(fn, repeats):
    """``(first_call_s, warm_median_s, times, value)``."""
    t0 = time.perf_counter()
    value = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), times, value


def compare(name, ours, peer, repeats, peer_repeats, peer_warmup=None):
    print(f"{name}: hsic ...", flush=True)
    first, median, times, ours_value = timed(ours, repeats)
    row = {
        "name": name,
        "hsic_first_call_s": first,
        "hsic_median_s": median,
        "hsic_times_s": times,
        "compile_s": max(first - median, 0.0),
        "hsic_pvalue": ours_value,
    }
    print(f"  hsic {median:.3f} s (first call {first:.3f} s), p = {ours_value:.4g}", flush=True)
    if peer is None:
        row["status"] = "peer unavailable"
        return row
    try:
        if peer_warmup is not None:
            peer_warmup()
        print(f"{name}: peer ...", flush=True)
        times = []
        for _ in range(peer_repeats):
            t0 = time.perf_counter()
            peer_value = peer()
            times.append(time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - a failing peer is recorded, not fatal
        row["status"] = f"peer failed: {type(err).__name__}: {err}"
        print("  " + row["status"], flush=True)
        return row
    peer_median = statistics.median(times)
    row.update(
        status="ok",
        peer_median_s=peer_median,
        peer_times_s=times,
        peer_pvalue=float(peer_value),
        ratio=peer_median / median,
        target_ratio=TARGET,
        meets_target=peer_median / median >= TARGET,
    )
    print(f"  peer {peer_median:.3f} s, p = {float(peer_value):.4g}; "
          f"ratio {peer_median / median:.1f}x", flush=True)
    return row


def compare_paired(name, ours, peer, rounds, peer_warmup=None):
    """Alternate ours and the peer after a warm-up of each; the median of per-round ratios."""
    print(f"{name}: alternating, {rounds} rounds ...", flush=True)
    t0 = time.perf_counter()
    ours_value = ours()
    first = time.perf_counter() - t0
    row = {"name": name, "hsic_first_call_s": first, "timing": "alternating"}
    if peer is None:
        row["status"] = "peer unavailable"
        return row
    if peer_warmup is not None:
        peer_warmup()
    peer()
    ours_t, peer_t, loads, ours_value, peer_value = alternate(ours, peer, rounds)
    ratios = [b / a for a, b in zip(ours_t, peer_t, strict=True)]
    ratio = statistics.median(ratios)
    row.update(
        status="ok", hsic_median_s=statistics.median(ours_t), hsic_times_s=ours_t,
        compile_s=max(first - statistics.median(ours_t), 0.0), hsic_pvalue=ours_value,
        peer_median_s=statistics.median(peer_t), peer_times_s=peer_t,
        peer_pvalue=float(peer_value), ratios=ratios, ratio=ratio, loadavg_1min=loads,
        target_ratio=TARGET, meets_target=ratio >= TARGET,
    )
    print(f"  hsic {row['hsic_median_s'] * 1e3:.1f} ms, peer {row['peer_median_s'] * 1e3:.1f} ms;"
          f" median paired ratio {ratio:.1f}x (load {min(loads):.1f}-{max(loads):.1f})",
          flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 300, B = 100")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--permutations", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", nargs="+", choices=("joint", "kci", "rcit"),
                        default=("joint", "kci", "rcit"), help="which comparisons to run")
    parser.add_argument("--paired", type=int, default=21, help="alternating RCIT rounds")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 1000)
    B = args.permutations or (100 if args.quick else 1000)
    out = Path(args.out or REPO / "benchmarks" / "results" /
               ("joint_conditional_quick" if args.quick else "joint_conditional"))
    info = machine_info()
    for mod in ("causallearn",):
        try:
            from importlib.metadata import version

            info[mod] = version("causal-learn")
        except Exception:  # noqa: BLE001
            info[mod] = None
    print(f"n = {n}, B = {B}; {info['platform']}, load {info['loadavg_start']}", flush=True)

    rows = []
    # ---- joint: dHSIC permutation test, d = 3 ----
    x, y, z = joint_data(n)
    info["only"] = list(args.only)
    try:
        from hyppo.d_variate import dHsic

        cols = [a[:, None] for a in (x, y, z)]
        small = [a[:, None] for a in joint_data(50, seed=1)]

        def hyppo_joint():
            return dHsic().test(*cols, reps=B)[1]

        def hyppo_warm():
            dHsic().test(*small, reps=5)
    except ImportError:
        hyppo_joint = hyppo_warm = None
    if "joint" in args.only:
        rows.append(compare(
            f"joint_test permutation d=3 n={n} B={B} vs hyppo dHsic",
            lambda: hsic.joint_test([x, y, z], method=hsic.Permutation(B), rng=0).pvalue,
            hyppo_joint, repeats=3, peer_repeats=1, peer_warmup=hyppo_warm,
        ))

    # ---- conditional: KCI and RCIT ----
    x, y, z = conditional_data(n)
    cols = [a[:, None] for a in (x, y, z)]
    small = [a[:, None] for a in conditional_data(100, seed=1)]
    try:
        from causallearn.utils.KCI.KCI import KCI_CInd

        def kci_peer():
            return KCI_CInd().compute_pvalue(*cols)[0]

        def kci_warm():
            KCI_CInd().compute_pvalue(*small)
    except ImportError:
        kci_peer = kci_warm = None
    if "kci" in args.only:
        rows.append(compare(
            f"conditional_test kci (gamma) n={n} vs causal-learn KCI_CInd",
            lambda: hsic.conditional_test(x, y, z, method="kci").pvalue,
            kci_peer, repeats=5, peer_repeats=3, peer_warmup=kci_warm,
        ))
    try:
        from causallearn.utils.cit import CIT

        data = np.column_stack([x, y, z])

        def rcit_peer():
            return CIT(data, "rcit")(0, 1, [2])

        def rcit_warm():
            CIT(np.column_stack([a.ravel() for a in small]), "rcit")(0, 1, [2])
    except ImportError:
        rcit_peer = rcit_warm = None
    if "rcit" in args.only:
        rows.append(compare_paired(
            f"conditional_test rcit (hbe) n={n} vs causal-learn CIT 'rcit'",
            lambda: hsic.conditional_test(x, y, z, method=hsic.RCIT(n_features=100)).pvalue,
            rcit_peer, rounds=args.paired, peer_warmup=rcit_warm,
        ))

    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": info, "n": n, "n_permutations": B, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out.with_suffix('.json')}")
    for row in rows:
        ratio = row.get("ratio")
        print(f"  {row['name']}: " + (f"{ratio:.1f}x" if ratio else row["status"]))


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
