"""HSIC-bottleneck benchmark on the real MNIST: accuracy, saturation, epoch time and total time.

Each run is one (model, method, configuration):

* models: ``mlp`` (5 × 256 in the ``default`` configuration) and ``resnet`` (the paper's
  5-block residual network);
* methods: ``hsic`` (trained layer-wise with the HSIC bottleneck, then format layers) and
  ``backprop`` (the same architecture trained end to end: the baseline);
* configurations (``--configs``, or ``--preset NAME`` for one):

  - ``default``: the library's ``default`` preset (BatchNorm without parameters; β = 50 for
    the MLP, 500 for the resnet; batch 256; SGD with momentum 0.9; simultaneous updates; the
    padded stem): the project's best settings;
  - ``learnable-bn``: the same with a learnable BatchNorm scale and bias, the project's
    settings before issue 13;
  - ``paper``: the ``paper`` preset, the official code's MNIST configuration (BatchNorm
    without parameters, β = 200 for the resnet, batch 512, plain SGD lr 0.01 with weight
    decay 1e-3, sequential updates, the unpadded stem).

  Options given on the command line (``--beta``, ``--batch-size``, ``--lr``, ...) override the
  configuration's values.

Every HSIC run goes one epoch at a time: it
continues from its checkpoint in its run directory, which gives exactly the weights of an
uninterrupted run, so a re-invocation resumes a stopped run. After each evaluated epoch
(``--eval-every``, and always the last) the format layer is fitted by every protocol of
``--format-protocols`` (by default the official code's SGD, ``paper`` for the resnet and
``paper-mlp`` for the MLP, and ``best``, the project's Adam with a cosine schedule) on all
training images, and the entry of ``results/bottleneck.json`` is
rewritten with the epoch's wall time, step time, load averages, per-block nHSIC and their
ratios to their ceilings (saturation), the BatchNorm scales (learnable BN), both format
accuracies (with the test accuracy after each format epoch) and the run's ``config.json``.
The backprop baseline is resumable in the same way (its checkpoints in its own run
directory).

Keys in the JSON file: ``<model>/<method>/<configuration>``, with ``/subset<N>`` for
``--train-subset N``. Only the runs this invocation runs are replaced (the file is re-read
just before each write). The data is read in place from ``--data`` (default
``/work/shared/data/mnist``), never copied.

Usage (see benchmarks/README.md and docs/bottleneck.md)::

    # the A/B on 6144 images: learnable BN, parameter-free BN, the paper preset
    nice python benchmarks/bench_bottleneck.py --models resnet --methods hsic --epochs 1 \\
        --train-subset 6144 --configs learnable-bn default paper
    # full runs, then the baseline
    nice python benchmarks/bench_bottleneck.py --models resnet --methods hsic --epochs 5 \\
        --preset paper
    nice python benchmarks/bench_bottleneck.py --models resnet --methods hsic --epochs 5 \\
        --configs default
    nice python benchmarks/bench_bottleneck.py --models resnet --methods backprop --epochs 5 \\
        --configs paper
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import jax
import numpy as np
import optax

from hsic import bottleneck as bt
from hsic.bottleneck._checkpoint import latest_checkpoint, read_jsonl, write_json

RESULTS = os.path.join(os.path.dirname(__file__), "results", "bottleneck.json")
CONFIGS = ("default", "learnable-bn", "paper")
#: The official code's format stage, per model.
PAPER_FORMAT = {"resnet": "paper", "mlp": "paper-mlp"}


def _machine():
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "device": str(jax.devices()[0]),
        "load_average_at_start": os.getloadavg(),
    }


def configuration(name, model, args):
    """The preset of configuration ``name`` for ``model``, with the command line's options
    (those given) overriding it."""
    if name == "learnable-bn":
        base = bt.preset("default", model=model).replace(batch_norm="learnable")
    else:
        base = bt.preset(name, model=model)
    network = {"batch_norm": args.batch_norm, "activation": None}
    if model == "resnet":
        network.update(stem_padding=args.stem_padding, n_blocks=args.blocks,
                       channels=args.channels, hidden=args.hidden)
    else:
        network["widths"] = None if args.widths is None else tuple(args.widths)
    chosen = base.replace(beta=args.beta, sigma=args.sigma, batch_size=args.batch_size,
                          learning_rate=args.lr, momentum=args.momentum, update=args.update,
                          **network)
    # The benchmark fits its format layers itself, by every protocol of --format-protocols.
    return dataclasses.replace(chosen, format=None)


def _subset(data, n):
    if n is None or n >= len(data.x_train):
        return data
    return bt.Dataset(data.x_train[:n], data.y_train[:n], data.x_test, data.y_test,
                      data.num_classes, data.name)


def _bn_scales(params):
    """Per block, the mean and max |scale| of its learnable BatchNorm layers (None without)."""
    out = []
    for block in params:
        scales = [np.abs(np.asarray(leaf)) for path, leaf in
                  jax.tree_util.tree_leaves_with_path(block)
                  if jax.tree_util.keystr(path).endswith("['scale']")]
        out.append(None if not scales else {
            "mean": float(np.mean(np.concatenate(scales))),
            "max": float(np.max(np.concatenate(scales)))})
    return out


def _epochs_done(run_dir):
    """The epoch of the latest complete checkpoint in ``run_dir`` (0 if none)."""
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return 0
    with open(f"{latest}.json", encoding="utf-8") as f:
        return int(json.load(f)["metadata"]["epoch"])


def _earlier_record(path, key, run_dir, done):
    """The per-epoch fields of the results entry ``key`` for epochs ≤ ``done`` of the same run
    directory, or nothing if the file holds another run."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        entry = json.load(f).get("runs", {}).get(key, {})
    if entry.get("run_dir") != run_dir:
        return {}
    keep = min(done, len(entry.get("per_epoch", [])))
    record = {"per_epoch": entry.get("per_epoch", [])[:keep]}
    record["train_time_s"] = float(sum(e["seconds"] for e in record["per_epoch"]))
    return record


def _read_config(run_dir):
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def _format_all(model, params, state, data, protocols, seed, run_dir):
    """Every protocol's format layer on all training images (the network's features computed
    once); ``format_<name>.json`` each."""
    t0 = time.perf_counter()
    feats = (bt.features(model, params, state, data.x_train),
             bt.features(model, params, state, data.x_test))
    features_s = time.perf_counter() - t0
    records = {}
    for name in protocols:
        t0 = time.perf_counter()
        record = bt.fit_format(model, params, state, data, protocol=name, rng=seed,
                               precomputed=feats).record
        record["features_seconds"] = features_s
        record["seconds"] = time.perf_counter() - t0
        write_json(os.path.join(run_dir, f"format_{name}.json"), record)
        records[name] = record
    return records


def run_hsic(model_name, config_name, data, args, key, save):
    """The HSIC run one epoch at a time (resuming from its checkpoint), saved after each."""
    chosen = configuration(config_name, model_name, args)
    model = chosen.network(input_shape=data.x_train.shape[1:])
    run_dir = os.path.join(args.run_dir, key.replace("/", "_"))
    protocols = args.format_protocols or [PAPER_FORMAT[model_name], "best"]
    steps = len(data.x_train) // chosen.batch_size
    run = {"method": "hsic+format", "configuration": config_name, "preset": chosen.settings(),
           "model": model.config_dict(), "run_dir": run_dir, "steps_per_epoch": steps,
           "epochs": args.epochs, "format_protocols": protocols,
           "eval_every": args.eval_every, "per_epoch": []}
    done = _epochs_done(run_dir)
    if done:  # a later invocation: continue the run, keeping its record of earlier epochs
        run.update(_earlier_record(args.out, key, run_dir, done))
        print(f"resuming {run_dir} after epoch {done}", flush=True)
    train_s = run.get("train_time_s", 0.0)
    for epoch in range(done + 1, args.epochs + 1):
        load_start = os.getloadavg()
        t0 = time.perf_counter()
        result = bt.train(model, data, preset=chosen, epochs=epoch, rng=args.seed,
                          run_dir=run_dir, resume=True, evaluate=False, progress=args.progress)
        seconds = time.perf_counter() - t0
        train_s += seconds
        last = result.history[-1]
        entry = {"epoch": epoch, "seconds": seconds, "step_time_mean_s": seconds / steps,
                 "load_average": {"start": load_start, "end": os.getloadavg()},
                 **{k: last[k] for k in ("nhsic_zx", "nhsic_zy", "saturation_zx",
                                         "saturation_zy")},
                 "bn_scale": _bn_scales(result.params)}
        if epoch == args.epochs or epoch % args.eval_every == 0:
            entry["format"] = _format_all(model, result.params, result.state, data, protocols,
                                          args.seed, run_dir)
        run["per_epoch"].append(entry)
        run.update(epochs_completed=epoch, train_time_s=train_s, partial=epoch < args.epochs,
                   config=_read_config(run_dir))
        if "format" in entry:
            run["format"] = {**entry["format"], "epoch": epoch}
            run["test_acc"] = {p: r["test_acc"] for p, r in entry["format"].items()}
        print(json.dumps({"run": key, "epoch": epoch, "seconds": round(seconds, 1),
                          "load": entry["load_average"]["end"],
                          "saturation_zx": [round(v, 4) for v in last["saturation_zx"]],
                          "saturation_zy": [round(v, 4) for v in last["saturation_zy"]],
                          "test_acc": {p: r["test_acc"] for p, r in
                                       entry.get("format", {}).items()}}), flush=True)
        save(run)
    run["metrics"] = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    return run


def run_backprop(model_name, config_name, data, args, key, save):
    """The same architecture trained end to end, one epoch per call (resumable)."""
    chosen = configuration(config_name, model_name, args)
    model = chosen.network(input_shape=data.x_train.shape[1:])
    run_dir = os.path.join(args.run_dir, key.replace("/", "_"))
    optimizer = bt.paper_optimizer(args.bp_lr)  # SGD, momentum 0.9, weight decay 1e-3
    run = {"method": "backprop", "configuration": config_name, "model": model.config_dict(),
           "run_dir": run_dir, "epochs": args.epochs, "batch_size": chosen.batch_size,
           "optimizer": {"name": "sgd", "learning_rate": args.bp_lr, "momentum": 0.9,
                         "weight_decay": 1e-3}, "per_epoch": []}
    done = _epochs_done(run_dir)
    if done:
        run.update(_earlier_record(args.out, key, run_dir, done))
    for epoch in range(done + 1, args.epochs + 1):
        load_start = os.getloadavg()
        t0 = time.perf_counter()
        _, _, _, acc = bt.train_backprop(model, data, epochs=epoch, batch_size=chosen.batch_size,
                                         optimizer=optimizer, rng=args.seed, run_dir=run_dir,
                                         resume=True, progress=args.progress)
        seconds = time.perf_counter() - t0
        run["per_epoch"].append({"epoch": epoch, "seconds": seconds,
                                 "train_seconds": acc["epoch_times"][-1],
                                 "load_average": {"start": load_start, "end": os.getloadavg()},
                                 "test_acc": acc["test_acc"], "train_acc": acc["train_acc"]})
        run.update(epochs_completed=epoch, partial=epoch < args.epochs, test_acc=acc["test_acc"],
                   train_acc=acc["train_acc"], config=_read_config(run_dir))
        print(json.dumps({"run": key, "epoch": epoch, "seconds": round(seconds, 1),
                          "test_acc": acc["test_acc"]}), flush=True)
        save(run)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/mnist")
    parser.add_argument("--models", nargs="+", default=["mlp"], choices=["mlp", "resnet"])
    parser.add_argument("--methods", nargs="+", default=["hsic", "backprop"],
                        choices=["hsic", "backprop"])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--configs", nargs="+", default=None, choices=CONFIGS,
                       help="configurations to run (default: default)")
    group.add_argument("--preset", choices=list(bt.PRESETS), default=None,
                       help="one configuration: the library preset of that name")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=1,
                        help="fit the format layers every K epochs (and after the last)")
    parser.add_argument("--format-protocols", nargs="+", default=None,
                        choices=list(bt.FORMAT_PROTOCOLS),
                        help="default: the official code's for the model ('paper' for the "
                        "resnet, 'paper-mlp' for the MLP) and the project's 'best'")
    for flag, kind in (("--beta", float), ("--sigma", float), ("--batch-size", int),
                       ("--lr", float), ("--momentum", float), ("--blocks", int),
                       ("--channels", int), ("--hidden", int)):
        parser.add_argument(flag, type=kind, default=None,
                            help="override the configuration's value")
    parser.add_argument("--widths", type=int, nargs="+", default=None)
    parser.add_argument("--update", choices=["simultaneous", "sequential"], default=None)
    parser.add_argument("--batch-norm", choices=list(bt.BATCH_NORMS), default=None)
    parser.add_argument("--stem-padding", choices=list(bt.STEM_PADDINGS), default=None)
    parser.add_argument("--bp-lr", type=float, default=0.01, help="backprop learning rate")
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--run-dir", default="/tmp/hsic_bench_runs",
                        help="parent of the runs' directories (checkpoints, config.json, "
                        "format_<protocol>.json)")
    args = parser.parse_args(argv)
    configs = [args.preset] if args.preset else (args.configs or ["default"])

    full = bt.load_dataset(args.data)
    data = _subset(full, args.train_subset)
    suffix = f"/subset{len(data.x_train)}" if len(data.x_train) < len(full.x_train) else ""
    command = "python benchmarks/bench_bottleneck.py " + " ".join(
        sys.argv[1:] if argv is None else argv)

    for model_name in args.models:
        for config_name in configs:
            for method in args.methods:
                key = f"{model_name}/{method}/{config_name}{suffix}"
                load_start = os.getloadavg()

                def save(run, key=key, load_start=load_start):
                    run.update(train_images=len(data.x_train), test_images=len(data.x_test),
                               load_average_at_start=load_start,
                               load_average_at_end=os.getloadavg(), machine=_machine(),
                               command=command)
                    _merge(args.out, {key: run})

                runner = run_hsic if method == "hsic" else run_backprop
                run = runner(model_name, config_name, data, args, key, save)
                save(run)
    return 0


def _merge(path, runs):
    """Update only ``runs`` in the JSON file, keeping every other entry (another model's runs,
    written by another invocation), re-read just before writing."""
    results = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    results.setdefault("runs", {}).update(runs)
    results["machine"] = _machine()  # of the latest write; each run keeps its own
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
