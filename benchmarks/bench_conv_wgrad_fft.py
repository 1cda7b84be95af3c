"""Paired benchmark: the resnet's 5×5 convolution weight gradient by FFT against XLA's.

Issue 13, item 6. A residual block of the HSIC-bottleneck resnet needs, per step, the forward
5×5, C → C convolution at H × W (stride 1, padding 2) and the gradient with respect to its
weights only (each block's input is ``stop_gradient``-ed). The weight gradient is the
cross-correlation of the padded input with the output gradient,

    dW[dy, dx, i, o] = Σ_{m, h, w} x̃[m, h + dy, w + dx, i] · g[m, h, w, o],

with x̃ the input zero-padded to (H + 4) × (W + 4). With the 2-D DFT over a period
P = (H + 4, W + 4) — long enough that no index h + dy wraps around — it is exactly

    dW[dy, dx] = IDFT_P( Σ_m conj(DFT_P(g_m)) ⊗ DFT_P(x̃_m) )[dy, dx],

one complex (C × m)·(m × C) product per frequency: 2·C²·m·P_h·(P_w/2 + 1)·4 real flops
against 2·m·H·W·25·C² for the direct form (about 7× fewer at 14 × 14, C = 64).

The library's convolution (``hsic/bottleneck/_convolution.py``) computes it so. The
script checks both weight gradients, the DFT one and ``jax.grad`` of
``lax.conv_general_dilated``, against a float64 NumPy transcription of the sum (both must be at
float32 rounding), then times forward + weight gradient both ways,
alternating the two in each round (paired), and reports the median of the per-round ratios
with its spread, the load averages, and, with ``--step``, the same for one whole HSIC step of
the 5-block resnet. Results in ``benchmarks/results/conv_wgrad_fft.json``.

Usage::

    nice -n 0 python benchmarks/bench_conv_wgrad_fft.py --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from bench_core import machine_info  # benchmarks/ is on sys.path

from hsic.bottleneck import _models
from hsic.bottleneck._convolution import conv2d

RESULTS = os.path.join(os.path.dirname(__file__), "results", "conv_wgrad_fft.json")


def conv_lax(h, w):
    """XLA's 'same' 5×5 convolution, NHWC/HWIO (the library's form)."""
    pad = w.shape[0] // 2
    return jax.lax.conv_general_dilated(h, w, (1, 1), [(pad, pad), (pad, pad)],
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_dft(h, w):
    """The library's convolution (:func:`hsic.bottleneck._convolution.conv2d`): XLA's forward
    pass, the DFT weight gradient."""
    return conv2d(w, jnp.zeros(w.shape[-1], w.dtype), h, stride=1)


def _paired(fns, args, rounds):
    """Alternate the functions each round, the order flipped every round (ABBA, unlike
    ``bench_core.alternate``'s fixed order: a whole HSIC step is long enough for the second
    call to see a different load); per-function times."""
    for fn in fns.values():
        jax.block_until_ready(fn(*args))  # compile + warm-up
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            jax.block_until_ready(fns[name](*args))
            times[name].append(time.perf_counter() - t0)
    return times


def _summary(times, base, other):
    ratios = np.asarray(times[base]) / np.asarray(times[other])
    return {"median_s": {k: float(np.median(v)) for k, v in times.items()},
            f"ratio_{base}_over_{other}": {
                "median": float(np.median(ratios)), "min": float(ratios.min()),
                "max": float(ratios.max()),
                "rounds_faster": int((ratios > 1).sum()), "rounds": len(ratios)}}


def _weight_grad_float64(h, g, size):
    """The direct sum of the docstring in float64 NumPy: the reference for both."""
    pad = size // 2
    hp = np.pad(h.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    H, W = h.shape[1:3]
    g = g.astype(np.float64)
    return np.stack([np.stack([np.einsum("mhwi,mhwo->io", hp[:, dy:dy + H, dx:dx + W], g)
                               for dx in range(size)]) for dy in range(size)])


def conv_pair(m, hw, c, rounds):
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(m, hw, hw, c)).astype(np.float32))
    w = jnp.asarray((rng.normal(size=(5, 5, c, c)) / 40).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(m, hw, hw, c)).astype(np.float32))

    def loss(conv):
        return jax.jit(jax.grad(lambda w_, h_, g_: jnp.sum(conv(jax.lax.stop_gradient(h_), w_)
                                                          * g_)))

    xla, fft = loss(conv_lax), loss(conv_dft)
    exact = _weight_grad_float64(np.asarray(h), np.asarray(g), 5)
    scale = np.max(np.abs(exact))
    check = {f"max_rel_err_{name}_vs_float64": float(
        np.max(np.abs(np.asarray(fn(w, h, g), np.float64) - exact)) / scale)
        for name, fn in (("xla", xla), ("fft", fft))}
    load = {"start": os.getloadavg()}
    times = _paired({"xla": xla, "fft": fft}, (w, h, g), rounds)
    load["end"] = os.getloadavg()
    flop_direct = 2.0 * 2 * m * hw * hw * 25 * c * c  # forward + weight gradient
    out = {"shape": {"batch": m, "hw": hw, "channels": c}, "check": check, "load": load,
           **_summary(times, "xla", "fft"), "forward_wgrad_flop_direct": flop_direct}
    print(json.dumps(out), flush=True)
    return out


def step_pair(m, rounds):
    """One whole HSIC step's losses + gradients of the 5-block resnet, both convolutions."""
    from hsic import bottleneck as bt

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((m, 28, 28, 1)).astype(np.float32))
    y = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, m)), 10)
    net = bt.resnet(5)
    params, state = net.init(0)
    objective = bt.Objective(beta=500.0, sigma=5.0)

    def step():
        def full(p):
            losses, _, _ = bt.bottleneck_losses(net, p, state, x, y, objective=objective)
            return jnp.sum(losses)
        return jax.jit(jax.grad(full))

    fft = step()  # the library's convolution

    def xla_conv(w, b, h, *, stride, padded=True):
        pad = w.shape[0] // 2 if padded else 0
        return jax.lax.conv_general_dilated(
            h, w, (stride, stride), [(pad, pad), (pad, pad)],
            dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    _models.conv2d = xla_conv  # trace the baseline with XLA's gradient everywhere
    try:
        xla = step()
        jax.block_until_ready(xla(params))
    finally:
        _models.conv2d = conv2d
    a, b = xla(params), fft(params)
    errs = jax.tree.map(lambda u, v: float(jnp.max(jnp.abs(u - v)) / (jnp.max(jnp.abs(u))
                                                                        + 1e-30)), a, b)
    check = {"max_rel_err_fft_vs_xla": max(jax.tree.leaves(errs))}
    load = {"start": os.getloadavg()}
    times = _paired({"xla": xla, "fft": fft}, (params,), rounds)
    load["end"] = os.getloadavg()
    out = {"batch": m, "check": check, "load": load, **_summary(times, "xla", "fft")}
    print(json.dumps(out), flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--step", action="store_true", help="also a whole HSIC step, paired")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    result = {"machine": machine_info(),
              "conv_5x5_64_14x14": conv_pair(args.batch, 14, 64, args.rounds)}
    if args.step:
        result["hsic_step"] = step_pair(args.batch, max(5, args.rounds // 3))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
