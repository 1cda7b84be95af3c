"""The CKA matrix between the layers of an HSIC-trained and a backprop-trained MLP on MNIST.

Issue 17's demonstration of `hsic.similarity.cka_matrix`: the paper's MLP (5 blocks of 256
units, parameter-free BatchNorm, ReLU) is trained twice on the full MNIST training set, for the
same number of epochs, batch size and batch order (the same ``rng``):

* by the HSIC bottleneck (`hsic.bottleneck.train`, the default preset; no backpropagation
  between blocks), then a format layer for the accuracy;
* by backpropagation (`hsic.bottleneck.train_backprop`, cross-entropy through a linear head).

Then, on the 10,000 test images fed through both networks batch by batch (the activations are
never stored whole), the minibatch linear CKA (Nguyen, Raghu & Kornblith 2021) of every pair of
blocks: within the HSIC network, within the backprop network, and across the two. The figure
goes to ``docs/figures/cka_mnist.png`` and the numbers to ``benchmarks/results/cka_mnist.json``.

Run from the repository root (a few minutes on two CPU cores)::

    python benchmarks/cka_mnist.py --root ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

from bench_core import machine_info  # noqa: E402 (benchmarks/ is on sys.path)


def block_outputs(model, params, state):
    """A function from a batch of images to the network's block outputs, by name."""
    import jax

    @jax.jit
    def outputs(x):
        zs, _ = model.apply(params, state, x, train=False)
        return [z.reshape(z.shape[0], -1) for z in zs]

    def layers(batch):
        return {f"block {i + 1}": z for i, z in enumerate(outputs(batch))}

    return layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "mnist"),
                        help="the folder of the four MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000, help="CKA minibatch size")
    parser.add_argument("--rng", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cka_mnist.json"))
    parser.add_argument("--figure", default=str(REPO / "docs" / "figures" / "cka_mnist.png"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsic import bottleneck
    from hsic.similarity import cka_matrix

    data = bottleneck.load_dataset("mnist", root=args.root)
    record: dict = {"machine": machine_info(), "epochs": args.epochs, "rng": args.rng,
                    "cka_batch": args.batch, "command": " ".join(["python", *sys.argv])}

    start = time.perf_counter()
    run = bottleneck.train(bottleneck.mlp(), data, epochs=args.epochs, rng=args.rng,
                           format_epochs=5, progress=False)
    record["hsic"] = {"seconds": time.perf_counter() - start,
                      "test_acc": run.history[-1].get("test_acc"),
                      "config": run.config}
    start = time.perf_counter()
    bp_params, bp_state, _, bp_info = bottleneck.train_backprop(
        bottleneck.mlp(), data, epochs=args.epochs, rng=args.rng, progress=False)
    record["backprop"] = {"seconds": time.perf_counter() - start,
                          "test_acc": bp_info.get("test_acc")}
    print(f"HSIC MLP: {record['hsic']['test_acc']}, backprop MLP: {record['backprop']['test_acc']}")

    hsic_layers = block_outputs(run.model, run.params, run.state)
    bp_layers = block_outputs(run.model, bp_params, bp_state)
    test = np.asarray(data.x_test, np.float32)
    batches = [test[i:i + args.batch] for i in range(0, len(test) - args.batch + 1, args.batch)]
    panels = {
        "HSIC-trained": cka_matrix(hsic_layers, batches=batches),
        "backprop-trained": cka_matrix(bp_layers, batches=batches),
        "HSIC (rows) vs backprop (columns)": cka_matrix(hsic_layers, bp_layers, batches=batches),
    }
    record["cka"] = {title: np.round(res.matrix, 4).tolist() for title, res in panels.items()}
    record["cka_images"] = panels["HSIC-trained"].n

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, (title, res) in zip(axes, panels.items(), strict=True):
        res.plot(ax=ax)
        ax.set_title(title)
    fig.suptitle(f"Linear CKA between the MLP's blocks on the MNIST test set "
                 f"({args.epochs} epochs each; minibatches of {args.batch})")
    fig.tight_layout()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    for title, matrix in record["cka"].items():
        print(title)
        print(np.array(matrix))
    print(f"wrote {out} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
