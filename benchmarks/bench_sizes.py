"""Issue 15's sizes, each side by side with its peer in alternation (ours, peer, ours, ...).

* ``pairwise``: ``hsic.pairwise(X, Y, method="gamma")`` at n = 1000 with 10 × 10, 40 × 40 and
  100 × 100 columns against ``dcor.rowwise(dcor.distance_correlation, ...)`` over the same
  p·q pairs (data of ``bench_pairwise.make_columns``);
* ``statistic``: ``hsic.hsic(x, y)`` (Gaussian kernels, median heuristic; d = 5, y = x₁² +
  noise, as ``bench_core``) against ``hyppo.independence.Hsic().statistic(x, y)`` at
  n = 2000, 4000 and 8000;
* ``rcit``: ``hsic.conditional_test(x, y, z, method=hsic.RCIT(n_features=100))`` against
  causal-learn's ``CIT(data, "rcit")`` at n = 10⁴ and 10⁵ (data of
  ``bench_joint_conditional``): the same work, 100 features of z on both sides. A second row
  times our default, whose z-features grow as ``4√n`` (400 at 10⁴, 1266 at 10⁵) so that its
  type-I error stays near α (see ``hsic.RCIT.z_features``), against the same peer call;
* ``kci``: ``hsic.conditional_test(x, y, z, method="kci")`` against causal-learn's
  ``KCI_CInd().compute_pvalue`` at n = 2000 (``--kci-n``), and ours alone at larger n
  (``--kci-ours-n``), where causal-learn's O(n³) run takes tens of minutes here;
* ``floors``: what this machine's float64 arithmetic allows RCIT (the float64 cosines and
  sines of z's features and ``F_zᵀF_z``) and KCI (its flop rate against a float64 GEMM), each
  beside the peer's time in the same run (``run_floors``).

Every comparison warms both sides up at its shape first (JIT compilation, numba), then runs
``--rounds`` alternating rounds; it reports the median times, the median of the per-round
ratios peer / ours, and the 1-minute load average of each round. The first call of ours minus
its warm median is reported as ``compile_s``. ``machine.gemm_gflops`` is this machine's float32
GEMM rate (a jitted 2000 × 2000 product, measured in the same run) and each pairwise row gives
its products' flops ÷ time as a fraction of it (to be unified with ``bench_core``'s roofline).

Run from the repository root::

    python benchmarks/bench_sizes.py                          # everything (~30 min, loaded)
    python benchmarks/bench_sizes.py --only pairwise statistic
    python benchmarks/bench_sizes.py --quick                  # smaller sizes, a smoke test

Results: ``benchmarks/results/sizes.json`` (``sizes_quick.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_core import alternate, machine_info, quiet  # noqa: E402
from bench_joint_conditional import conditional_data, timed  # noqa: E402
from bench_pairwise import make_columns  # noqa: E402

import hsic  # noqa: E402


def gemm_gflops(size: int = 2000, repeats: int = 5, dtype=np.float32) -> float:
    """GEMM rate of a jitted ``size × size`` product in ``dtype`` (median of ``repeats``;
    float64 needs JAX's x64 mode, e.g. inside ``hsic._base.validation.precision``)."""
    import jax
    import jax.numpy as jnp

    a = jnp.asarray(np.random.default_rng(0).normal(size=(size, size)), dtype)
    f = jax.jit(lambda u: u @ u)
    return 2 * size**3 / _median_time(lambda: f(a), repeats) / 1e9


def paired(name: str, ours, peer, rounds: int, **extra) -> dict:
    """Warm both up, then alternate; medians and the median per-round ratio peer / ours."""
    print(f"{name} ...", flush=True)
    t0 = time.perf_counter()
    ours()
    first = time.perf_counter() - t0
    peer()
    ours_t, peer_t, loads, ours_value, peer_value = alternate(ours, peer, rounds)
    ratios = [b / a for a, b in zip(ours_t, peer_t, strict=True)]
    row = {"name": name, **extra, "ours_s": statistics.median(ours_t),
           "peer_s": statistics.median(peer_t), "ratio": statistics.median(ratios),
           "ratios": ratios, "ours_times_s": ours_t, "peer_times_s": peer_t,
           "compile_s": max(first - statistics.median(ours_t), 0.0), "loadavg_1min": loads,
           "ours_value": _plain(ours_value), "peer_value": _plain(peer_value)}
    print(f"  ours {row['ours_s']:.3f} s, peer {row['peer_s']:.3f} s, ratio {row['ratio']:.1f}x"
          f" (rounds {min(ratios):.1f}-{max(ratios):.1f}; load {min(loads):.1f}-"
          f"{max(loads):.1f})", flush=True)
    return row


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def run_pairwise(args, gflops: float) -> list[dict]:
    import dcor

    rows = []
    for p in args.columns:
        X, Y = make_columns(args.pairwise_n, p, p)
        xs = np.ascontiguousarray(np.repeat(X.T, p, axis=0))
        ys = np.ascontiguousarray(np.tile(Y.T, (p, 1)))
        n = args.pairwise_n
        row = paired(
            f"pairwise gamma n={n} {p}x{p} vs dcor rowwise",
            lambda X=X, Y=Y: hsic.pairwise(X, Y, method="gamma").pvalue[0, 0],
            quiet(lambda xs=xs, ys=ys: dcor.rowwise(dcor.distance_correlation, xs, ys)[0]),
            args.rounds, n=n, pairs=p * p,
        )
        # the products: two (p × ~n²/2)·(~n²/2 × p) GEMMs (entries and squares)
        flops = 2 * 2 * p * p * (n * n / 2 + n * 32)
        row["gemm_flops"] = flops
        row["gemm_fraction_at_machine_rate"] = flops / (gflops * 1e9) / row["ours_s"]
        rows.append(row)
    return rows


def run_statistic(args) -> list[dict]:
    from hyppo.independence import Hsic

    rows = []
    for n in args.stat_n:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, 5))
        y = x[:, :1] ** 2 + 0.5 * rng.normal(size=(n, 1))
        rows.append(paired(
            f"statistic n={n} vs hyppo Hsic().statistic",
            lambda x=x, y=y: float(hsic.hsic(x, y)),
            quiet(lambda x=x, y=y: Hsic().statistic(x, y)),
            args.rounds, n=n,
        ))
    return rows


def run_rcit(args) -> list[dict]:
    from causallearn.utils.cit import CIT

    rows = []
    for n in args.rcit_n:
        x, y, z = conditional_data(n)
        data = np.column_stack([x, y, z])
        for label, method in (("D_z = 100", hsic.RCIT(n_features=100)),
                              (f"default D_z = {hsic.RCIT().z_features(n)}", hsic.RCIT())):
            rows.append(paired(
                f"rcit n={n} ({label}) vs causal-learn CIT 'rcit' (D_z = 100)",
                lambda x=x, y=y, z=z, method=method: hsic.conditional_test(
                    x, y, z, method=method, rng=0
                ).pvalue,
                quiet(lambda data=data: CIT(data, "rcit")(0, 1, [2])),
                args.rcit_rounds, n=n,
            ))
    return rows


def run_kci(args) -> list[dict]:
    from causallearn.utils.KCI.KCI import KCI_CInd

    rows = []
    for n in args.kci_n:
        x, y, z = conditional_data(n)
        cols = [a[:, None] for a in (x, y, z)]
        rows.append(paired(
            f"kci n={n} vs causal-learn KCI_CInd",
            lambda x=x, y=y, z=z: hsic.conditional_test(x, y, z, method="kci").pvalue,
            quiet(lambda cols=cols: KCI_CInd().compute_pvalue(*cols)[0]),
            args.kci_rounds, n=n,
        ))
    for n in args.kci_ours_n:
        x, y, z = conditional_data(n)
        t0 = time.perf_counter()
        p = hsic.conditional_test(x, y, z, method="kci").pvalue
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        hsic.conditional_test(x, y, z, method="kci")
        warm = time.perf_counter() - t0
        rows.append({"name": f"kci n={n}, ours alone", "n": n, "ours_s": warm,
                     "first_call_s": first, "ours_value": float(p),
                     "loadavg_1min": os.getloadavg()[0]})
        print(f"kci n={n}: ours {warm:.2f} s (first {first:.2f} s)", flush=True)
    return rows


def _median_time(fn, repeats: int = 7) -> float:
    """Median wall time of ``fn()``, its result forced, after one warm-up call (``timed``)."""
    import jax

    return timed(lambda: jax.block_until_ready(fn()), repeats)[1]


def run_floors(args) -> list[dict]:
    """What this machine's float64 arithmetic allows RCIT and KCI, in the same run as the peer.

    * RCIT (D_z = 100, the matched setting): any implementation evaluates the ``n × 100``
      cosines and sines of z's features in float64 and forms ``F_zᵀF_z`` (``2n·100²`` flops);
      their times (XLA's ``cos``/``sin``, NumPy's symmetric rank-k update) bound from below
      what ours can take, hence the largest ratio against causal-learn that this machine allows.
    * KCI: ours is about ``10⅓·n³`` float64 flops (Cholesky n³/3, the inverse from it 2n³, the
      four products of ``R K̃ R`` 8n³); its rate against a float64 GEMM measured here.
    """
    import jax
    import jax.numpy as jnp
    from causallearn.utils.cit import CIT
    from causallearn.utils.KCI.KCI import KCI_CInd

    from hsic._base.validation import precision

    rows = []
    trig = jax.jit(lambda t: jnp.concatenate([jnp.cos(t), jnp.sin(t)], axis=1))
    for n in args.rcit_n:
        x, y, z = conditional_data(n)
        data = np.column_stack([x, y, z])
        with precision(np.float64):
            angles = jnp.asarray(np.random.default_rng(0).normal(size=(n, 50)))
            trig_s = _median_time(lambda angles=angles: trig(angles))
            features = np.asarray(trig(angles))
        syrk_s = _median_time(lambda f=features: f.T @ f)
        peer_s = _median_time(quiet(lambda data=data: CIT(data, "rcit")(0, 1, [2])))
        ours_s = _median_time(lambda x=x, y=y, z=z: hsic.conditional_test(
            x, y, z, method=hsic.RCIT(n_features=100), rng=0).pvalue)
        row = {"name": f"rcit floor n={n}", "n": n, "trig_s": trig_s, "syrk_s": syrk_s,
               "peer_s": peer_s, "ours_s": ours_s,
               "largest_ratio": peer_s / (trig_s + syrk_s), "ratio": peer_s / ours_s,
               "loadavg_1min": os.getloadavg()[0]}
        print(f"rcit floor n={n}: cos+sin {trig_s * 1e3:.1f} ms + F'F {syrk_s * 1e3:.1f} ms; "
              f"causal-learn {peer_s * 1e3:.1f} ms, ours {ours_s * 1e3:.1f} ms: ratio "
              f"{row['ratio']:.1f}x, at most {row['largest_ratio']:.1f}x", flush=True)
        rows.append(row)
    size = 2000
    a = np.random.default_rng(0).normal(size=(size, size))
    with precision(np.float64):
        xla_gflops = gemm_gflops(size, 5, np.float64)
    numpy_gflops = 2 * size**3 / _median_time(lambda: a @ a, 5) / 1e9
    for n in args.kci_n:
        x, y, z = conditional_data(n)
        cols = [v[:, None] for v in (x, y, z)]
        ours_s = _median_time(lambda x=x, y=y, z=z: hsic.conditional_test(
            x, y, z, method="kci").pvalue, 3)
        peer_s = _median_time(quiet(lambda cols=cols: KCI_CInd().compute_pvalue(*cols)[0]), 1)
        flops = (1 / 3 + 2 + 8) * n**3
        row = {"name": f"kci flop rate n={n}", "n": n, "ours_s": ours_s, "peer_s": peer_s,
               "ratio": peer_s / ours_s, "flops": flops, "ours_gflops": flops / ours_s / 1e9,
               "gemm64_gflops_numpy": numpy_gflops, "gemm64_gflops_xla": xla_gflops,
               "loadavg_1min": os.getloadavg()[0]}
        row["gflops_for_10x"] = 10 * flops / peer_s / 1e9
        print(f"kci n={n}: ours {ours_s:.3f} s = {row['ours_gflops']:.0f} GFLOP/s (float64 GEMM "
              f"here: NumPy {row['gemm64_gflops_numpy']:.0f}, XLA {row['gemm64_gflops_xla']:.0f});"
              f" causal-learn {peer_s:.2f} s: {row['ratio']:.1f}x; 10x needs "
              f"{row['gflops_for_10x']:.0f} GFLOP/s", flush=True)
        rows.append(row)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+",
                        default=["pairwise", "statistic", "rcit", "kci", "floors"],
                        choices=["pairwise", "statistic", "rcit", "kci", "floors"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairwise-n", type=int, default=1000)
    parser.add_argument("--columns", type=int, nargs="+", default=[10, 40, 100])
    parser.add_argument("--stat-n", type=int, nargs="+", default=[2000, 4000, 8000])
    parser.add_argument("--rcit-n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rcit-rounds", type=int, default=9)
    parser.add_argument("--kci-n", type=int, nargs="+", default=[2000])
    parser.add_argument("--kci-rounds", type=int, default=2)
    parser.add_argument("--kci-ours-n", type=int, nargs="*", default=[3000, 4000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.rcit_rounds, args.kci_rounds = 2, 2, 1
        args.pairwise_n, args.columns, args.stat_n = 300, [4, 8], [500, 1000]
        args.rcit_n, args.kci_n, args.kci_ours_n = [2000], [300], [500]
    out = Path(args.out or HERE / "results" / ("sizes_quick.json" if args.quick else "sizes.json"))
    info = machine_info()
    info["gemm_gflops"] = gflops = gemm_gflops()
    print(f"float32 GEMM: {gflops:.0f} GFLOP/s; load {os.getloadavg()}", flush=True)
    result = {"machine": info, "args": vars(args), "rows": []}
    runners = {"pairwise": lambda: run_pairwise(args, gflops),
               "statistic": lambda: run_statistic(args),
               "rcit": lambda: run_rcit(args), "kci": lambda: run_kci(args),
               "floors": lambda: run_floors(args)}
    for name in args.only:
        result["rows"] += runners[name]()
        result["machine"]["loadavg_end"] = os.getloadavg()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
