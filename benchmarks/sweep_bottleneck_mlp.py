"""A small hyper-parameter sweep of the HSIC-bottleneck MLP on a subset of MNIST.

Each configuration (a JSON object on the command line: ``opt`` = ``sgdm`` (the paper's SGD,
momentum 0.9, weight decay 1e-3), ``sgd`` (the same without momentum, as the official code,
which builds a new optimizer every step) or ``adam``; ``lr``; ``beta``; optional ``sigma``)
trains the 5 × 256 MLP (NOCCO) on the first ``N`` training images for ``EP`` epochs, then
fits a format layer (10 and 30 epochs) and the unformatted read-out, and prints one JSON line
with the test accuracies and the per-block nHSIC values of the last epoch.

Usage (what produced ``results/bottleneck_mlp_sweep.jsonl``)::

    N=12000 EP=2 nice -n 10 python benchmarks/sweep_bottleneck_mlp.py \\
        '{"opt": "sgdm", "lr": 0.01, "beta": 500}' '{"opt": "sgdm", "lr": 0.01, "beta": 50}' ...
"""

from __future__ import annotations

import json
import os
import sys
import time

import optax

from hsic import bottleneck as bt


def _optimizer(kind, lr):
    if kind == "sgdm":
        return bt.paper_optimizer(lr)
    if kind == "sgd":
        return bt.paper_optimizer(lr, momentum=0.0)
    return optax.chain(optax.add_decayed_weights(1e-3), optax.adam(lr))


def main(argv):
    full = bt.load_dataset(os.environ.get("DATA", "/work/shared/data/mnist"))
    n, epochs = int(os.environ.get("N", 12000)), int(os.environ.get("EP", 2))
    data = bt.Dataset(full.x_train[:n], full.y_train[:n], full.x_test, full.y_test, 10, "mnist")
    net = bt.mlp([256] * 5, input_shape=full.x_train.shape[1:])
    for config in map(json.loads, argv):
        t0 = time.perf_counter()
        objective = bt.Objective(beta=config["beta"], sigma=config.get("sigma", 5.0))
        run = bt.train(net, data, objective=objective, epochs=epochs,
                       batch_size=config.get("bs", 256),
                       optimizer=_optimizer(config.get("opt", "sgdm"), config["lr"]),
                       evaluate=False, progress=False, rng=0)
        out = dict(config, N=n, epochs=epochs, train_s=round(time.perf_counter() - t0, 1),
                   load=os.getloadavg()[0],
                   zy=[round(v, 2) for v in run.history[-1]["nhsic_zy"]],
                   zx=[round(v, 2) for v in run.history[-1]["nhsic_zx"]])
        f_train = bt.features(net, run.params, run.state, data.x_train)
        f_test = bt.features(net, run.params, run.state, data.x_test)
        for format_epochs in (10, 30):
            layer = bt.train_format(f_train, data.y_train, num_classes=10, epochs=format_epochs,
                                    rng=0)
            out[f"test_f{format_epochs}"] = round(bt.format_accuracy(layer, f_test, data.y_test),
                                                  4)
        mapping = bt.class_map(f_train, data.y_train, num_classes=10)
        out["test_unf"] = round(bt.unformatted_accuracy(f_test, data.y_test, mapping), 4)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
