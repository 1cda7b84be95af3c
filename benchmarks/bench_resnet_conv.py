"""Microbenchmark of the resnet's 5×5 convolution on the CPU: which formulation is fastest.

The HSIC-bottleneck resnet spends most of a training step in its five 5×5, 64 → 64
convolutions at 14×14 (~20M multiply-adds per image each) and in their weight gradients. This
script times, in one process, float32, after a JIT warm-up, median of repeats:

* ``lax.conv_general_dilated`` in the layouts NHWC/HWIO, NCHW/OIHW, NHWC/OIHW, NCHW/HWIO;
* ``im2col``: the 25 shifted copies of the padded input concatenated into ``(m·H·W, 25·C)``
  patches (1600 wide), then one GEMM with the ``(1600, C_out)`` kernel;
* ``shifted``: the sum of 25 GEMMs ``shift(h) @ W[dy, dx]`` (no patch matrix);
* ``rows``: 5 patch matrices of the 5 horizontal shifts (320 wide), one GEMM per kernel row.

For each: the forward pass, and the forward pass with the gradient with respect to the
weights only (what the HSIC-bottleneck step needs: each block's input is ``stop_gradient``-ed),
and with the gradient with respect to both (what backprop needs). Every formulation is checked
against ``lax.conv_general_dilated`` before it is timed.

With ``--step`` it also breaks one HSIC training step of the 5-block resnet down: the convs,
the Gram matrices of the 12544-dimensional block outputs, the NOCCO solves, BatchNorm.

Usage::

    nice -n 0 python benchmarks/bench_resnet_conv.py            # ~2-3 min on 2 cores
    nice -n 0 python benchmarks/bench_resnet_conv.py --step

Writes ``benchmarks/results/resnet_conv.json`` (times, ratios to NHWC/HWIO, GFLOP/s, load
averages, machine and versions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

RESULTS = os.path.join(os.path.dirname(__file__), "results", "resnet_conv.json")


def _machine():
    return {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "jax": jax.__version__, "numpy": np.__version__,
        "device": str(jax.devices()[0]),
    }


def _lax(layout_in, layout_w):
    def conv(h, w):  # h NHWC, w HWIO always given; transposed here (outside the timing? no:
        # the transposes are part of a layout's cost only if the network keeps NHWC, so the
        # layout variants below take pre-transposed inputs instead).
        return jax.lax.conv_general_dilated(
            h, w, (1, 1), [(2, 2), (2, 2)], dimension_numbers=(layout_in, layout_w, layout_in))
    return conv


def _patches(h, size):
    pad = size // 2
    m, H, W, C = h.shape
    hp = jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = [hp[:, dy:dy + H, dx:dx + W, :] for dy in range(size) for dx in range(size)]
    return jnp.concatenate(cols, axis=-1)  # (m, H, W, size²·C), (dy, dx, c) order = HWIO


def im2col(h, w):
    size, _, c_in, c_out = w.shape
    p = _patches(h, size)
    return (p.reshape(-1, size * size * c_in) @ w.reshape(-1, c_out)).reshape(
        *h.shape[:3], c_out)


def shifted(h, w):
    size = w.shape[0]
    pad = size // 2
    m, H, W, C = h.shape
    hp = jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = 0.0
    for dy in range(size):
        for dx in range(size):
            out = out + jnp.einsum("mhwc,co->mhwo", hp[:, dy:dy + H, dx:dx + W, :], w[dy, dx])
    return out


def rows(h, w):
    size, _, c_in, c_out = w.shape
    pad = size // 2
    m, H, W, C = h.shape
    hp = jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    # row patches: (m, H + 2p, W, size·C), the horizontal shifts concatenated
    rp = jnp.concatenate([hp[:, :, dx:dx + W, :] for dx in range(size)], axis=-1)
    out = 0.0
    for dy in range(size):
        out = out + jnp.einsum("mhwk,ko->mhwo", rp[:, dy:dy + H], w[dy].reshape(-1, c_out))
    return out


def _time(fn, args, repeats):
    out = fn(*args)
    jax.block_until_ready(out)  # compile + warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times


def conv_variants(m, hw, c, repeats):
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(m, hw, hw, c)).astype(np.float32))
    w = jnp.asarray((rng.normal(size=(5, 5, c, c)) / 40).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(m, hw, hw, c)).astype(np.float32))
    ref = np.asarray(_lax("NHWC", "HWIO")(h, w))
    h_nchw, g_nchw = h.transpose(0, 3, 1, 2), g.transpose(0, 3, 1, 2)
    w_oihw = w.transpose(3, 2, 0, 1)
    variants = {
        "lax NHWC/HWIO": (_lax("NHWC", "HWIO"), h, w, g),
        "lax NCHW/OIHW": (_lax("NCHW", "OIHW"), h_nchw, w_oihw, g_nchw),
        "lax NHWC/OIHW": (_lax("NHWC", "OIHW"), h, w_oihw, g),
        "lax NCHW/HWIO": (_lax("NCHW", "HWIO"), h_nchw, w, g_nchw),
        "im2col": (im2col, h, w, g),
        "shifted": (shifted, h, w, g),
        "rows": (rows, h, w, g),
    }
    flop = 2.0 * m * hw * hw * 25 * c * c
    out = {}
    for name, (fn, hh, ww, gg) in variants.items():
        got = np.asarray(fn(hh, ww))
        if got.shape != ref.shape:
            got = got.transpose(0, 2, 3, 1)
        err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        fwd = jax.jit(fn)
        wgrad = jax.jit(jax.grad(lambda w_, h_, g_, f=fn: jnp.sum(f(h_, w_) * g_)))
        both = jax.jit(jax.grad(lambda w_, h_, g_, f=fn: jnp.sum(f(h_, w_) * g_),
                                argnums=(0, 1)))
        load = os.getloadavg()[0]
        t_f, _ = _time(fwd, (hh, ww), repeats)
        t_w, _ = _time(wgrad, (ww, hh, gg), repeats)
        t_b, _ = _time(both, (ww, hh, gg), repeats)
        out[name] = {"max_rel_err_vs_lax": err, "forward_s": t_f, "forward_wgrad_s": t_w,
                     "forward_wgrad_xgrad_s": t_b, "forward_gflops": flop / t_f / 1e9,
                     "forward_wgrad_gflops": 2 * flop / t_w / 1e9, "load_1min": load}
        print(f"{name:15s} err {err:.1e}  fwd {t_f*1e3:7.1f} ms ({flop/t_f/1e9:5.1f} GFLOP/s)"
              f"  fwd+dW {t_w*1e3:7.1f} ms ({2*flop/t_w/1e9:5.1f})  fwd+dW+dX {t_b*1e3:7.1f} ms"
              f"  load {load:.1f}", flush=True)
    # The pieces of im2col on their own: the bare GEMM with a ready patch matrix, and building
    # the patch matrix.
    patches = jax.jit(lambda x: _patches(x, 5))
    p = patches(h).reshape(-1, 25 * c)
    w2 = w.reshape(-1, c)
    t_gemm, _ = _time(jax.jit(lambda a, b: a @ b), (p, w2), repeats)
    t_patch, _ = _time(patches, (h,), repeats)
    out["pieces"] = {"bare_gemm_s": t_gemm, "patch_build_s": t_patch,
                     "bare_gemm_gflops": flop / t_gemm / 1e9, "load_1min": os.getloadavg()[0]}
    print(f"bare GEMM {t_gemm*1e3:.1f} ms, patch build {t_patch*1e3:.1f} ms", flush=True)
    base = out["lax NHWC/HWIO"]
    for name, v in out.items():
        if name == "pieces":
            continue
        for k in ("forward_s", "forward_wgrad_s", "forward_wgrad_xgrad_s"):
            v[k.replace("_s", "_ratio_to_lax_nhwc")] = v[k] / base[k]
    return out


def step_breakdown(m, repeats, conv_impl):
    """Time the pieces of one HSIC step of the 5-block resnet at batch m."""
    from hsic import bottleneck as bt
    from hsic import nocco_projection

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((m, 28, 28, 1)).astype(np.float32))
    y = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, m)), 10)
    net = bt.resnet(5)
    params, state = net.init(0)
    z = jnp.asarray(rng.normal(size=(m, 14 * 14 * 64)).astype(np.float32))
    h = z.reshape(m, 14, 14, 64)
    Kx = bt.bottleneck_gram(x.reshape(m, -1), sigma=5.0)
    Ky = bt.bottleneck_gram(y, sigma=5.0)
    out = {}

    def record(name, fn, args, count):
        t, _ = _time(jax.jit(fn), args, repeats)
        out[name] = {"once_s": t, "per_step": count, "per_step_s": t * count,
                     "load_1min": os.getloadavg()[0]}
        print(f"{name:40s} {t*1e3:8.1f} ms × {count} = {t*count*1e3:8.1f} ms", flush=True)

    objective = bt.Objective(beta=500.0, sigma=5.0)
    targets = bt.layer_targets(Kx, Ky, objective=objective)
    record("gram 12544-dim + grad", jax.grad(
        lambda z_: jnp.sum(bt.bottleneck_gram(z_, sigma=5.0) * Kx)), (z,), 7)
    record("nocco projection + grad", jax.grad(
        lambda k_: jnp.sum(nocco_projection(k_) * Kx)), (Kx,), 7)
    record("layer_loss 12544-dim + grad", jax.grad(
        lambda z_: bt.layer_loss(z_, Kx, Ky, objective=objective, targets=targets)[0]), (z,), 7)
    record("residual block fwd + dW", jax.grad(
        lambda p: jnp.sum(net.block(1, p, state[1], h, train=True)[0] * h)), (params[1],), 5)
    record("dense block fwd + dW", jax.grad(
        lambda p: jnp.sum(net.block(6, p, state[6], h, train=True)[0])), (params[6],), 1)
    record("BN(+relu) fwd + grad", jax.grad(
        lambda h_: jnp.sum(jax.nn.relu(bt._models._batch_norm(
            params[1]["bn1"], state[1]["bn1"], h_, train=True)[0]) * h)), (h,), 10)

    def full(p):
        losses, _, _ = bt.bottleneck_losses(net, p, state, x, y, objective=objective)
        return jnp.sum(losses)

    record("whole step (losses + grads, no optimizer)", jax.grad(full), (params,), 1)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--step", action="store_true", help="also break an HSIC step down")
    parser.add_argument("--skip-convs", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    result = {"machine": _machine(), "batch": args.batch,
              "load_average_at_start": os.getloadavg()}
    if not args.skip_convs:
        result["conv_5x5_64_14x14"] = conv_variants(args.batch, 14, 64, args.repeats)
    if args.step:
        result["hsic_step_breakdown"] = step_breakdown(args.batch, args.repeats, None)
    result["load_average_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
