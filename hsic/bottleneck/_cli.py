"""The ``hsic bottleneck`` commands: ``train``, ``format`` and ``plot``.

* ``hsic bottleneck train --dataset mnist --out RUN_DIR``: train a network layer-wise with the
  HSIC bottleneck (``--sigma-combined`` for the σ-combined network, ``--backprop`` for the
  end-to-end baseline); writes ``config.json``, ``metrics.jsonl`` and per-epoch checkpoints to
  ``RUN_DIR``; ``--resume`` continues from the latest checkpoint.
* ``hsic bottleneck format RUN_DIR``: train the format layer on the frozen network and write
  ``RUN_DIR/format.json`` (format and unformatted accuracies).
* ``hsic bottleneck plot RUN_DIR``: PNG figures of the HSIC plane and the accuracies.

The settings come from a preset (``--preset``: ``default``, the library's, or ``paper``, the
official code's MNIST configuration), and every option given on the command line overrides
the preset's value; ``config.json`` records what ran. The ``default`` preset: MLP of 5 × 256
(β = 50) or the resnet (β = 500), BatchNorm without parameters, σ = 5, batch 256, 5 epochs,
SGD with momentum 0.9 and weight decay 1e-3. Errors are ``ValueError`` (printed by
``hsic.cli.main``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

from hsic import bottleneck as bt
from hsic._base.argtypes import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from hsic.bottleneck._checkpoint import write_json

__all__ = ["add_bottleneck_command"]

#: β by model, the ``default`` preset's: the MLP's is the official code's MNIST MLP setting
#: (``lambda_y: 50``), the best of 20, 50, 100, 500 and 2000 in a sweep on MNIST
#: (docs/bottleneck.md); the resnet's is unchanged.
DEFAULT_BETA = {m: p.objective.beta for m, p in bt.PRESETS["default"].items()}


def add_bottleneck_command(commands) -> None:
    """Add ``bottleneck`` and its subcommands to the ``hsic`` command's subparsers."""
    bottleneck = commands.add_parser(
        "bottleneck",
        help="train networks layer-wise with the HSIC bottleneck (Ma et al. 2020)",
        description="HSIC-bottleneck training: each layer learns from its own HSIC loss.",
    )
    sub = bottleneck.add_subparsers(dest="bottleneck_command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a network and write a run directory",
        description="Train an MLP or residual network with the HSIC-bottleneck objective "
        "nHSIC(Z_i, X) - beta * nHSIC(Z_i, Y) per layer, then (with --format-epochs) a format "
        "layer. Defaults: the paper's MNIST setting.",
        epilog="Example: hsic bottleneck train --dataset mnist --root DATA --out runs/mlp",
    )
    train.add_argument("--dataset", default="mnist",
                       help="mnist, fashion-mnist, cifar10, or a directory of IDX/CIFAR files "
                       "(default: %(default)s)")
    train.add_argument("--root", default=None,
                       help="where the named dataset's files are (default: $HSIC_DATA/<name> "
                       "or ~/.cache/hsic/<name>)")
    train.add_argument("--download", action="store_true",
                       help="download a named dataset's missing files (checksummed)")
    train.add_argument("--model", choices=["mlp", "resnet"], default="mlp")
    train.add_argument("--preset", choices=list(bt.PRESETS), default="default",
                       help="the settings to start from: 'default' (the library's) or 'paper' "
                       "(the official code's MNIST configuration); the options below override "
                       "them (default: %(default)s)")
    train.add_argument("--widths", type=positive_int, nargs="+", default=None,
                       metavar="W", help="MLP layer widths (default preset: 256 256 256 256 "
                       "256)")
    train.add_argument("--blocks", type=positive_int, default=None, metavar="N",
                       help="residual blocks of the resnet (presets: 5)")
    train.add_argument("--activation", choices=["relu", "tanh", "elu", "sigmoid"],
                       default=None, help="(presets: relu)")
    train.add_argument("--batch-norm", choices=list(bt.BATCH_NORMS), default=None,
                       help="BatchNorm without parameters (the presets') or with a learnable "
                       "scale and bias")
    train.add_argument("--stem-padding", choices=list(bt.STEM_PADDINGS), default=None,
                       help="the resnet stem's padding: 'same' (default preset; 14x14 maps on "
                       "MNIST) or 'valid' (paper preset; 12x12)")
    train.add_argument("--epochs", type=positive_int, default=5)
    train.add_argument("--beta", type=positive_float, default=None,
                       help="weight of the label term (default preset: 50 for the MLP, as the "
                       "official code; 500 for the resnet; paper preset: 50 and 200)")
    train.add_argument("--sigma", type=positive_float, default=None,
                       help="kernel width factor: width = sigma * sqrt(d) (presets: 5)")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="(default preset: 256; paper: 512)")
    train.add_argument("--lr", type=positive_float, default=None,
                       help="SGD learning rate (default preset: 0.01; paper: 0.01 for the "
                       "resnet, 1e-4 for the MLP)")
    train.add_argument("--momentum", type=non_negative_float, default=None,
                       help="SGD momentum, kept across steps (default preset: 0.9; paper: 0)")
    train.add_argument("--weight-decay", type=non_negative_float, default=None,
                       help="SGD (L2) weight decay (presets: 1e-3)")
    train.add_argument("--normalisation", choices=["nocco", "cka", "hsic"], default=None,
                       help="(presets: nocco)")
    train.add_argument("--update", choices=["simultaneous", "sequential"], default=None,
                       help="(default preset: simultaneous; paper: sequential)")
    train.add_argument("--eval-every", type=positive_int, default=1, metavar="K",
                       help="evaluate (accuracies, format layer) every K epochs and after the "
                       "last (default: %(default)s)")
    train.add_argument("--format-protocol", choices=[*bt.FORMAT_PROTOCOLS, "none"],
                       default=None,
                       help="fit a format layer by this protocol at each evaluation and write "
                       "format.json after the last epoch (default preset: none; paper: paper)")
    train.add_argument("--format-epochs", type=non_negative_int, default=0,
                       help="also train a format layer at each evaluation for this many epochs "
                       "(with --sigma-combined: the combined format layer's epochs, default 10)")
    train.add_argument("--seed", type=non_negative_int, default=0)
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    train.add_argument("--resume", action="store_true",
                       help="continue from the latest checkpoint in RUN_DIR")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--sigma-combined", type=positive_float, nargs="*", default=None,
                      metavar="SIGMA",
                      help="train one network per sigma (default 1 5 10), average their "
                      "outputs, and train a format layer on top")
    mode.add_argument("--backprop", action="store_true",
                      help="the baseline: the same network trained end to end with "
                      "cross-entropy")
    train.set_defaults(run=_run_train)

    fmt = sub.add_parser(
        "format",
        help="train the format layer of a run and report accuracies",
        description="Train a linear softmax (cross-entropy) on the frozen network's output, "
        "and write RUN_DIR/format.json with the format and unformatted accuracies.",
    )
    fmt.add_argument("run_dir", metavar="RUN_DIR")
    fmt.add_argument("--protocol", choices=list(bt.FORMAT_PROTOCOLS), default="best",
                     help="'paper': the official code's SGD (lr 0.01, weight decay 1e-3, batch "
                     "512, 5 epochs); 'best': Adam with a cosine-decayed lr, 10 epochs "
                     "(default: %(default)s)")
    fmt.add_argument("--epochs", type=positive_int, default=None,
                     help="format epochs (default: the protocol's)")
    fmt.add_argument("--root", default=None, help="where a named dataset's files are")
    fmt.add_argument("--seed", type=non_negative_int, default=0)
    fmt.set_defaults(run=_run_format)

    plot = sub.add_parser(
        "plot",
        help="plot a run's HSIC plane and accuracy curves",
        description="Write hsic_plane.png and accuracy.png from RUN_DIR/metrics.jsonl.",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--out-dir", default=None, help="default: RUN_DIR")
    plot.set_defaults(run=_run_plot)


def _preset(args) -> bt.Preset:
    """The preset of ``--preset`` for ``--model``, with the options given overriding it."""
    base = bt.preset(args.preset, model=args.model)
    network = {"activation": args.activation, "batch_norm": args.batch_norm}
    if args.model == "mlp":
        network["widths"] = None if args.widths is None else tuple(args.widths)
    else:
        network.update(n_blocks=args.blocks, stem_padding=args.stem_padding)
    chosen = base.replace(
        beta=args.beta, sigma=args.sigma, normalisation=args.normalisation,
        batch_size=args.batch_size, learning_rate=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, update=args.update, **network,
    )
    if args.format_protocol == "none":
        chosen = dataclasses.replace(chosen, format=None)
    elif args.format_protocol is not None:
        chosen = chosen.replace(format=args.format_protocol)
    return chosen


def _write_json(path, record):
    write_json(path, record)  # atomically: a crash never leaves half a file


def _run_train(args: argparse.Namespace) -> None:
    chosen = _preset(args)  # before the data: a bad option fails fast
    data = bt.load_dataset(args.dataset, root=args.root, download=args.download)
    model = chosen.network(input_shape=data.x_train.shape[1:])
    os.makedirs(args.out, exist_ok=True)
    source = args.dataset
    if source not in ("mnist", "fashion-mnist", "cifar10"):
        source = os.path.abspath(source)
    root = None if args.root is None else os.path.abspath(args.root)
    _write_json(os.path.join(args.out, "dataset.json"), {"dataset": source, "root": root})
    if args.backprop:
        params, state, head, acc = bt.train_backprop(
            model, data, epochs=args.epochs, batch_size=chosen.batch_size,
            optimizer=chosen.optimizer(), rng=args.seed,
        )
        settings = chosen.settings()
        _write_json(os.path.join(args.out, "backprop.json"),
                    {"model": model.config_dict(), "preset": chosen.name,
                     "batch_size": chosen.batch_size, "optimizer": settings["optimizer"],
                     "epochs": args.epochs, "rng": args.seed, **acc})
        print(f"backprop baseline: test accuracy {_pct(acc['test_acc'])}")
        return
    try:
        if args.sigma_combined is not None:
            sigmas = args.sigma_combined or [1.0, 5.0, 10.0]
            # The combined format layer is trained once, at the end (10 epochs by default).
            _, _, acc = bt.train_sigma_combined(
                model, data, sigmas=sigmas, rng=args.seed, run_dir=args.out,
                resume=args.resume, objective=chosen.objective, epochs=args.epochs,
                preset=dataclasses.replace(chosen, format=None),  # one format layer, at the end
                eval_every=args.eval_every, format_epochs=args.format_epochs or 10,
            )
            _write_json(os.path.join(args.out, "sigma_combined.json"),
                        {"sigmas": sigmas, **acc})
            print(f"sigma-combined {sigmas}: test accuracy {_pct(acc['test_acc'])}")
            return
        result = bt.train(model, data, preset=chosen, epochs=args.epochs, rng=args.seed,
                          run_dir=args.out, resume=args.resume, eval_every=args.eval_every,
                          format_epochs=args.format_epochs, progress=None)
    except bt.TrainingDiverged as err:
        raise ValueError(str(err)) from None
    last = result.history[-1] if result.history else {}
    formatted = ("" if last.get("test_acc") is None
                 else f"format layer test accuracy {_pct(last['test_acc'])}, ")
    print(f"trained {model.name} ({chosen.name} preset) for {args.epochs} epochs into "
          f"{args.out}: {formatted}unformatted test accuracy "
          f"{_pct(last.get('test_acc_unformatted'))}. Next: hsic bottleneck format {args.out}")


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _run_format(args: argparse.Namespace) -> None:
    model, params, state, _ = bt.load_run(args.run_dir)
    source_path = os.path.join(args.run_dir, "dataset.json")
    if not os.path.exists(source_path):
        raise ValueError(
            f"`RUN_DIR` {args.run_dir!r} has no dataset.json; give a directory written by "
            "'hsic bottleneck train'."
        )
    with open(source_path, encoding="utf-8") as f:
        source = json.load(f)
    data = bt.load_dataset(source["dataset"], root=args.root or source.get("root"))
    protocol = bt.format_protocol(args.protocol)
    if args.epochs is not None:
        protocol = dataclasses.replace(protocol, epochs=args.epochs)
    record = bt.fit_format(model, params, state, data, protocol=protocol, rng=args.seed).record
    _write_json(os.path.join(args.run_dir, "format.json"), record)
    print(f"format layer: train {_pct(record['train_acc'])}, test {_pct(record['test_acc'])} "
          f"(unformatted test {_pct(record['test_acc_unformatted'])}); wrote "
          f"{os.path.join(args.run_dir, 'format.json')}")


def _run_plot(args: argparse.Namespace) -> None:
    for path in bt.plot_run(args.run_dir, out_dir=args.out_dir):
        print(path)
