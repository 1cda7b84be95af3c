"""Linear CKA from features at n = 10⁵, d = 2048, beside the Gram-based path.

``hsic.similarity.cka(a, b)`` computes linear CKA from the centred features: three d × d
products (``ȦᵀḂ``, ``ȦᵀȦ``, ``ḂᵀḂ``, 6·n·d² flops), streamed over blocks of rows, never an
n × n matrix. This script times it on device arrays (warm, after JIT compilation, median of
``--repeats``; the first call, compilation included, is reported apart), for the biased and the
unbiased estimator, and measures in the same run a plain jitted GEMM ``aᵀb`` of the same shapes
(2·n·d² flops): the ratio of the two flop rates says how close ``cka`` runs to the machine's own
matrix-multiply speed. A call on host (NumPy) input, which adds the checks and the transfer, is
timed once.

Beside it, the Gram-based path: linear CKA from the two ``n × n`` Gram matrices
(``hsic.cka_from_gram(a aᵀ, b bᵀ)``, jitted), at the largest n whose four ``n × n`` float32
matrices fit in half of the free memory (the device's when it reports it, else the host's),
capped by ``--gram-n``; its time at the feature path's n is extrapolated as n² (stated as such).

Run from the repository root::

    python benchmarks/bench_cka.py                      # n = 100000, d = 2048
    python benchmarks/bench_cka.py --n 2000 --d 64 --gram-n 1000 --out /tmp/cka.json  # smoke

Results go to ``benchmarks/results/cka.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

from bench_core import machine_info  # noqa: E402 (benchmarks/ is on sys.path)


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    """``(first, warm)``: the first call's seconds, then ``repeats`` warm calls'."""
    start = time.perf_counter()
    fn().block_until_ready()
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().block_until_ready()
        warm.append(time.perf_counter() - start)
    return first, warm


def free_bytes() -> int:
    """Free memory of the default device when it reports it, else the host's available."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    from hsic._base.validation import available_memory_bytes

    return available_memory_bytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gram-n", type=int, default=40_000,
                        help="the largest n tried for the Gram-based path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cka.json"))
    args = parser.parse_args(argv)

    import jax
    import jax.numpy as jnp

    import hsic
    from hsic.similarity import cka

    n, d = args.n, args.d
    key_a, key_b, key_noise = jax.random.split(jax.random.key(args.seed), 3)
    a = jax.random.normal(key_a, (n, d), jnp.float32)
    # b: a mixed and partly noisy copy of a (a CKA well inside (0, 1))
    mix = jax.random.normal(key_b, (d, d), jnp.float32) / math.sqrt(d)
    b = jnp.tanh(a @ mix) + 0.5 * jax.random.normal(key_noise, (n, d), jnp.float32)
    b.block_until_ready()
    record: dict = {"machine": machine_info(), "n": n, "d": d, "repeats": args.repeats}

    gemm = jax.jit(lambda x, y: x.T @ y)
    first, warm = timed(lambda: gemm(a, b), args.repeats)
    gemm_s = statistics.median(warm)
    gemm_flops = 2.0 * n * d * d
    record["gemm"] = {"seconds": gemm_s, "first_call_s": first, "gflops": gemm_flops / gemm_s / 1e9}
    print(f"GEMM aᵀb ({d}x{n} @ {n}x{d}): {gemm_s:.3f} s, {gemm_flops / gemm_s / 1e9:.1f} GFLOP/s")

    cka_flops = 3 * gemm_flops  # ȦᵀḂ, ȦᵀȦ, ḂᵀḂ
    for estimator in ("biased", "unbiased"):
        first, warm = timed(lambda est=estimator: cka(a, b, estimator=est), args.repeats)
        seconds = statistics.median(warm)
        value = float(cka(a, b, estimator=estimator))
        rate = cka_flops / seconds / 1e9
        record[f"cka_{estimator}"] = {
            "seconds": seconds, "warm_s": warm, "first_call_s": first, "value": value,
            "gflops": rate, "gemm_rate_ratio": rate / record["gemm"]["gflops"],
        }
        print(f"cka {estimator:8s} n={n} d={d}: {seconds:.3f} s warm ({first:.3f} s first call),"
              f" {rate:.1f} GFLOP/s = {rate / record['gemm']['gflops']:.2f} x the GEMM's;"
              f" CKA = {value:.6f}")

    a_host, b_host = np.asarray(a), np.asarray(b)
    start = time.perf_counter()
    host_value = float(cka(a_host, b_host))
    record["cka_biased_host_input_s"] = time.perf_counter() - start
    print(f"cka biased on NumPy input (checks, padding, transfer): "
          f"{record['cka_biased_host_input_s']:.3f} s, CKA = {host_value:.6f}")

    # The Gram-based path at the largest n it can hold: K, L and their centred copies.
    fits = int(math.sqrt(0.5 * free_bytes() / (4 * 4)))
    n_gram = max(8, min(args.gram_n, fits, n))
    gram_cka = jax.jit(lambda x, y: hsic.cka_from_gram(x @ x.T, y @ y.T))
    first, warm = timed(lambda: gram_cka(a[:n_gram], b[:n_gram]), args.repeats)
    gram_s = statistics.median(warm)
    feature_value = float(cka(a[:n_gram], b[:n_gram]))
    gram_value = float(gram_cka(a[:n_gram], b[:n_gram]))
    record["gram"] = {
        "n": n_gram, "limited_by": "memory" if n_gram == fits else "--gram-n or --n",
        "seconds": gram_s, "first_call_s": first, "value": gram_value,
        "feature_value_same_n": feature_value,
        "extrapolated_seconds_at_n": gram_s * (n / n_gram) ** 2,
    }
    print(f"Gram-based CKA at n={n_gram} (largest held: {record['gram']['limited_by']}): "
          f"{gram_s:.3f} s; feature path at that n gives {feature_value:.6f} vs Gram "
          f"{gram_value:.6f}; n² extrapolation to n={n}: "
          f"{record['gram']['extrapolated_seconds_at_n']:.1f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
