"""The ``hsic bottleneck`` commands: ``train``, ``format`` and ``plot``.

* ``hsic bottleneck train --dataset mnist --out RUN_DIR``: train a network layer-wise with the
  HSIC bottleneck (``--sigma-combined`` for the σ-combined network, ``--backprop`` for the
  end-to-end baseline); writes ``config.json``, ``metrics.jsonl`` and per-epoch checkpoints to
  ``RUN_DIR`` (``--keep-last K`` keeps the K latest). A non-empty ``RUN_DIR`` is refused
  unless ``--resume`` (continue the run, with the settings of its ``config.json``) or
  ``--overwrite`` (delete the files an earlier run wrote there first) is given.
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
import re
import sys
from typing import Any

from hsic import bottleneck as bt
from hsic._base.argtypes import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from hsic.bottleneck._checkpoint import latest_checkpoint, write_json
from hsic.bottleneck._models import network_from_config

__all__ = ["add_bottleneck_command"]

#: β by model, the ``default`` preset's: the MLP's is the official code's MNIST MLP setting
#: (``lambda_y: 50``), the best of 20, 50, 100, 500 and 2000 in a sweep on MNIST
#: (docs/bottleneck.md); the resnet's is unchanged.
DEFAULT_BETA = {m: p.objective.beta for m, p in bt.PRESETS["default"].items()}

#: The defaults of the options that ``--resume`` takes from the run instead (so they are None
#: in the parsed arguments unless given).
TRAIN_DEFAULTS = {"dataset": "mnist", "model": "mlp", "preset": "default", "epochs": 5,
                  "eval_every": 1, "format_epochs": 0, "seed": 0}


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
        "layer. With --resume, every setting comes from RUN_DIR/config.json; options given "
        "must agree with it, but --epochs may extend the run.",
        epilog="Example: hsic bottleneck train --dataset mnist --root DATA --out runs/mlp",
    )
    train.add_argument("--dataset", default=None,
                       help="mnist, fashion-mnist, cifar10, or a directory of IDX/CIFAR files "
                       "(default: mnist)")
    train.add_argument("--root", default=None,
                       help="where the named dataset's files are (default: $HSIC_DATA/<name> "
                       "or ~/.cache/hsic/<name>)")
    train.add_argument("--download", action="store_true",
                       help="download a named dataset's missing files (checksummed)")
    train.add_argument("--model", choices=["mlp", "resnet"], default=None,
                       help="(default: mlp)")
    train.add_argument("--preset", choices=list(bt.PRESETS), default=None,
                       help="the settings to start from: 'default' (the library's) or 'paper' "
                       "(the official code's MNIST configuration); the options below override "
                       "them (default: default)")
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
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="the total number of epochs (default: 5; with --resume, the run's, "
                       "and a larger number extends it)")
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
    train.add_argument("--eval-every", type=positive_int, default=None, metavar="K",
                       help="evaluate (accuracies, format layer) every K epochs and after the "
                       "last (default: 1)")
    train.add_argument("--format-protocol", choices=[*bt.FORMAT_PROTOCOLS, "none"],
                       default=None,
                       help="fit a format layer by this protocol at each evaluation and write "
                       "format.json after the last epoch (default preset: none; paper: paper)")
    train.add_argument("--format-epochs", type=non_negative_int, default=None,
                       help="also train a format layer at each evaluation for this many epochs "
                       "(default: 0; with --sigma-combined: the combined format layer's epochs, "
                       "default 10)")
    train.add_argument("--seed", type=non_negative_int, default=None,
                       help="(default: 0)")
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    train.add_argument("--keep-last", type=positive_int, default=None, metavar="K",
                       help="keep only the K latest epoch checkpoints: older ones are deleted "
                       "once the new one is written (default: keep all)")
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the run in RUN_DIR from its latest checkpoint, with "
                          "the settings of its config.json")
    existing.add_argument("--overwrite", action="store_true",
                          help="first delete the files an earlier run wrote in RUN_DIR "
                          "(checkpoints, metrics, config, format*.json, figures); other files "
                          "are kept")
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


# --- run directories ---------------------------------------------------------------------------

#: The files that ``hsic bottleneck train``, ``format`` and ``plot`` write in a run directory.
_RUN_FILE = re.compile(
    r"(config|dataset|backprop|sigma_combined)\.json|format.*\.json|metrics\.jsonl"
    r"|hsic_plane\.png|accuracy\.png|epoch_\d+\.(npz|json)"
)
#: A temporary file of the atomic writer (``.<name>.<12 hex digits>.tmp``) left by a crash.
_TEMP_FILE = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp")
#: The folders the trainer writes: the σ-combined networks' runs, and optimizer states.
_SIGMA_DIR = re.compile(r"sigma_[0-9][0-9.e+-]*")
_RUN_SUBDIR = re.compile(rf"optimizer|{_SIGMA_DIR.pattern}")


def _read_json(path) -> dict | None:
    """A JSON file's object, or None if the file is missing or holds no JSON object."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _sigma_dirs(run_dir) -> list[str]:
    """The runs of a σ-combined run's networks: its ``sigma_<σ>`` folders."""
    try:
        entries = list(os.scandir(run_dir))
    except OSError:
        return []
    return sorted(e.path for e in entries if e.is_dir() and _SIGMA_DIR.fullmatch(e.name))


def _run_kind(run_dir) -> str:
    """``"backprop"``, ``"sigma-combined"`` or ``"hsic"``: the kind of run in ``run_dir``."""
    method = (_read_json(os.path.join(run_dir, "config.json")) or {}).get("method")
    if method in ("backprop", "sigma-combined"):
        return method
    if method is None and not os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
        # Runs written before config.json named them.
        if os.path.exists(os.path.join(run_dir, "backprop.json")):
            return "backprop"
        if os.path.exists(os.path.join(run_dir, "sigma_combined.json")) or _sigma_dirs(run_dir):
            return "sigma-combined"
    return "hsic"


def _refuse_other_kinds(run_dir, command: str) -> None:
    """A clear error when ``run_dir`` holds a run that ``command`` does not apply to."""
    kind = _run_kind(run_dir)
    if kind == "backprop":
        acc = (_read_json(os.path.join(run_dir, "backprop.json")) or {}).get("test_acc")
        what = ("no format stage: its softmax layer was trained with the network"
                if command == "format" else "no HSIC metrics (metrics.jsonl) to plot")
        raise ValueError(
            f"`RUN_DIR` {run_dir!r} is a backprop baseline run (the network trained end to end "
            f"by cross-entropy): it has {what}. Its accuracies are in backprop.json"
            f"{'' if acc is None else f' (test accuracy {_pct(acc)})'}."
        )
    if kind == "sigma-combined":
        networks = ", ".join(_sigma_dirs(run_dir)) or "its sigma_<s> folders"
        raise ValueError(
            f"`RUN_DIR` {run_dir!r} is a sigma-combined run: give one of its networks' run "
            f"directories to 'hsic bottleneck {command}' ({networks}). The combined accuracies "
            "are in sigma_combined.json."
        )


def _is_run_file(name: str) -> bool:
    temp = _TEMP_FILE.fullmatch(name)
    return _RUN_FILE.fullmatch(temp.group(1) if temp else name) is not None


def _clear_run(run_dir) -> tuple[int, list[str]]:
    """Delete the files a run wrote in ``run_dir``, and its run folders once empty.

    Returns the number of files deleted and the entries kept (paths relative to ``run_dir``):
    files and folders that no ``hsic bottleneck`` command writes, and links, are never touched.
    """
    removed, kept = 0, []
    for entry in sorted(os.scandir(run_dir), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False) and _RUN_SUBDIR.fullmatch(entry.name):
            count, inner = _clear_run(entry.path)
            removed += count
            kept += [os.path.join(entry.name, k) for k in inner]
            if not inner:
                os.rmdir(entry.path)
        elif entry.is_file(follow_symlinks=False) and _is_run_file(entry.name):
            os.remove(entry.path)
            removed += 1
        else:
            kept.append(entry.name)
    return removed, kept


def _check_out(args) -> None:
    """Refuse a ``--out`` that is a file, or a folder that holds more than an unstarted run's
    ``dataset.json`` and ``config.json``, unless --resume or --overwrite is given."""
    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"`--out` {out!r} is a file; give a folder for the run.")
    entries = sorted(os.listdir(out)) if os.path.isdir(out) else []
    # What a start that failed before the first epoch leaves: nothing trained to lose.
    unstarted = set(entries) <= {"dataset.json", "config.json"}
    if not unstarted and not (args.resume or args.overwrite):
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise ValueError(
            f"`--out` {out!r} is not empty (it holds {shown}). Give --resume to continue the run "
            "in it with the settings of its config.json, or --overwrite to delete the files of "
            "the earlier run (checkpoints, metrics, config, format*.json, figures) and train "
            "anew; or choose another folder."
        )


def _held_epochs(run_dir) -> int:
    """The epoch of the latest complete checkpoint in ``run_dir``; 0 if there is none."""
    latest = latest_checkpoint(run_dir)
    record = {} if latest is None else _read_json(latest + ".json") or {}
    epoch = (record.get("metadata") or {}).get("epoch", 0)
    return int(epoch) if isinstance(epoch, int) else 0


def _run_epochs(run_dir, kind: str) -> int:
    """The epochs a run holds: for a σ-combined run, those of its least advanced network."""
    if kind == "sigma-combined":
        return min((_held_epochs(d) for d in _sigma_dirs(run_dir)), default=0)
    return _held_epochs(run_dir)


def _source(dataset: str) -> str:
    """A dataset as ``dataset.json`` records it: a name, or an absolute path."""
    return dataset if dataset in ("mnist", "fashion-mnist", "cifar10") else os.path.abspath(dataset)


def _recorded(config: dict, kind: str, dataset: dict) -> dict[str, Any]:
    """The values of the options that a run's ``config.json`` (and ``dataset.json``) record,
    by argparse destination."""
    model = config.get("model") or {}
    optimizer = config.get("optimizer") or {}
    fmt = config.get("format")
    values = {
        "dataset": dataset.get("dataset"), "model": model.get("model"),
        "activation": model.get("activation"), "batch_norm": model.get("batch_norm"),
        "batch_size": config.get("batch_size"), "lr": optimizer.get("learning_rate"),
        "momentum": optimizer.get("momentum"), "weight_decay": optimizer.get("weight_decay"),
        "seed": config.get("rng"),
    }
    if model.get("model") == "mlp":
        values["widths"] = model.get("widths")
    else:
        values.update(blocks=model.get("n_blocks"), stem_padding=model.get("stem_padding"))
    if kind != "backprop":
        values.update(preset=config.get("preset"), beta=config.get("beta"),
                      normalisation=config.get("normalisation"), update=config.get("update"),
                      eval_every=config.get("eval_every"),
                      format_protocol="none" if fmt is None else fmt.get("name"))
    if kind == "hsic":
        values.update(sigma=config.get("sigma"),
                      format_epochs=0 if fmt is None else fmt.get("epochs"))
    if kind == "sigma-combined":
        values.update(sigma_combined=config.get("sigmas"),
                      format_epochs=config.get("format_epochs"))
    return {k: v for k, v in values.items() if v is not None}


def _same(given: Any, recorded: Any) -> bool:
    if isinstance(given, (list, tuple)):
        return isinstance(recorded, list) and [float(v) for v in given] == recorded
    if isinstance(given, float) and isinstance(recorded, (int, float)):
        return given == float(recorded)
    return bool(given == recorded)


def _resume_settings(args) -> tuple[dict, str] | None:
    """With ``--resume``: the run's config and kind, its settings put into ``args``.

    Every option given must agree with the run's ``config.json`` (a ValueError names the first
    that does not); ``--epochs`` may extend the run, ``--keep-last`` change its retention and
    ``--root`` say where the data are now. A folder without ``config.json`` (missing, empty, or
    written by an earlier version) has no settings to take: the options given apply.
    """
    out = args.out
    config = _read_json(os.path.join(out, "config.json"))
    if config is None:
        return None
    kind = _run_kind(out)
    for flag, given in (("--backprop", args.backprop),
                        ("--sigma-combined", args.sigma_combined is not None)):
        if given and flag[2:] != kind:
            raise ValueError(
                f"`{flag}`: the run in {out!r} is a {kind} run, which `--resume` continues as "
                f"such; leave {flag} out, or train a new run in another folder."
            )
    optimizer = (config.get("optimizer") or {}).get("name")
    custom = [what for what, bad in (
        (f"optimizer {optimizer!r}", optimizer != "sgd"),
        (f"rng {config.get('rng')!r}", not isinstance(config.get("rng"), int)),
        (f"preset {config.get('preset')!r}",
         kind != "backprop" and config.get("preset") not in bt.PRESETS),
    ) if bad]
    if custom:
        raise ValueError(
            f"`--resume`: the run in {out!r} was not started by 'hsic bottleneck train' (its "
            f"config.json has {', '.join(custom)}); resume it from Python with "
            "train(..., resume=True)."
        )
    dataset = _read_json(os.path.join(out, "dataset.json")) or {}
    recorded = _recorded(config, kind, dataset)
    for dest, value in recorded.items():
        given = getattr(args, dest)
        if (given is None or (dest == "sigma_combined" and not given)
                or (dest == "format_epochs" and kind == "hsic" and given == 0)):
            continue  # not given (a bare --sigma-combined names the mode only)
        if not _same(_source(given) if dest == "dataset" else given, value):
            flag = "--" + dest.replace("_", "-")
            raise ValueError(
                f"`{flag}`: the run in {out!r} was trained with {flag} {_show(value)}, but "
                f"{_show(given)} was given. --resume takes every setting from the run's "
                f"config.json: leave {flag} out, or train a new run in another folder."
            )
    if "dataset" not in recorded and args.dataset is None:
        raise ValueError(f"`--dataset`: the run in {out!r} has no dataset.json; give --dataset.")
    for dest, value in recorded.items():
        setattr(args, dest, value)
    args.backprop, args.format_protocol = kind == "backprop", None  # the format: from config
    if kind == "hsic":
        args.format_epochs = 0
    if args.root is None:
        args.root = dataset.get("root")
    held = _run_epochs(out, kind)
    if args.epochs is None:
        args.epochs = max(int(config.get("epochs", 1)), held)
    elif args.epochs < held:
        raise ValueError(
            f"`--epochs` must be at least the {held} epochs that the run in {out!r} holds "
            f"(--resume continues it; --epochs extends it); got {args.epochs}."
        )
    if args.keep_last is None:
        args.keep_last = config.get("keep_last")
    return config, kind


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- the commands ------------------------------------------------------------------------------


def _run_train(args: argparse.Namespace) -> None:
    _check_out(args)
    resumed = _resume_settings(args) if args.resume else None
    for dest, value in TRAIN_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)
    chosen = _preset(args)  # before the data: a bad option fails fast
    if resumed is not None:
        config, kind = resumed
        chosen = chosen.replace(epsilon=config.get("epsilon"))
        if kind == "hsic":  # the run's own format protocol, exactly
            fmt = config.get("format")
            chosen = dataclasses.replace(chosen,
                                         format=None if fmt is None else bt.FormatProtocol(**fmt))
    data = bt.load_dataset(args.dataset, root=args.root, download=args.download)
    if resumed is not None:
        model = network_from_config(resumed[0]["model"])
    else:
        model = chosen.network(input_shape=data.x_train.shape[1:])
    out = args.out
    if args.overwrite and os.path.isdir(out):
        removed, kept = _clear_run(out)
        note = f"hsic: --overwrite deleted {removed} files of an earlier run in {out}"
        if kept:
            note += (f"; kept {len(kept)} entries that 'hsic bottleneck' does not write: "
                     f"{', '.join(kept[:5])}{', ...' if len(kept) > 5 else ''}")
        print(note, file=sys.stderr)
    os.makedirs(out, exist_ok=True)
    root = None if args.root is None else os.path.abspath(args.root)
    _write_json(os.path.join(out, "dataset.json"), {"dataset": _source(args.dataset), "root": root})
    try:
        if args.backprop:
            _train_backprop(args, chosen, model, data)
        elif args.sigma_combined is not None:
            _train_sigma_combined(args, chosen, model, data)
        else:
            _train_hsic(args, chosen, model, data)
    except bt.TrainingDiverged as err:
        raise ValueError(str(err)) from None


def _train_hsic(args, chosen: bt.Preset, model: bt.Network, data) -> None:
    result = bt.train(model, data, preset=chosen, epochs=args.epochs, rng=args.seed,
                      run_dir=args.out, resume=args.resume, eval_every=args.eval_every,
                      format_epochs=args.format_epochs, keep_last=args.keep_last,
                      progress=None)
    last = result.history[-1] if result.history else {}
    formatted = ("" if last.get("test_acc") is None
                 else f"format layer test accuracy {_pct(last['test_acc'])}, ")
    print(f"{args.out} holds {_epochs(_held_epochs(args.out))} of {model.name} "
          f"({chosen.name} preset): {formatted}unformatted test accuracy "
          f"{_pct(last.get('test_acc_unformatted'))}. Next: hsic bottleneck format {args.out}")


def _train_backprop(args, chosen: bt.Preset, model: bt.Network, data) -> None:
    _, _, _, acc = bt.train_backprop(
        model, data, epochs=args.epochs, batch_size=chosen.batch_size,
        learning_rate=chosen.learning_rate, momentum=chosen.momentum,
        weight_decay=chosen.weight_decay, rng=args.seed, run_dir=args.out,
        resume=args.resume, keep_last=args.keep_last,
    )
    settings = chosen.settings()
    _write_json(os.path.join(args.out, "backprop.json"),
                {"model": model.config_dict(), "preset": chosen.name,
                 "batch_size": chosen.batch_size, "optimizer": settings["optimizer"],
                 "epochs": args.epochs, "rng": args.seed, **acc})
    print(f"{args.out} holds {_epochs(_held_epochs(args.out))} of the backprop baseline: test "
          f"accuracy {_pct(acc['test_acc'])}")


def _train_sigma_combined(args, chosen: bt.Preset, model: bt.Network, data) -> None:
    sigmas = args.sigma_combined or [1.0, 5.0, 10.0]
    format_epochs = args.format_epochs or 10  # the combined format layer's, trained at the end
    objective = {k: v for k, v in dataclasses.asdict(chosen.objective).items() if k != "sigma"}
    # The run's settings, for --resume (each network's run also has its own config.json).
    _write_json(os.path.join(args.out, "config.json"), {
        "method": "sigma-combined", "sigmas": sigmas, "epochs": args.epochs,
        "preset": chosen.name, **objective, "batch_size": chosen.batch_size,
        "optimizer": chosen.settings()["optimizer"], "update": chosen.update,
        "rng": args.seed, "model": model.config_dict(), "eval_every": args.eval_every,
        "format": None, "format_epochs": format_epochs, "keep_last": args.keep_last,
    })
    _, _, acc = bt.train_sigma_combined(
        model, data, sigmas=sigmas, rng=args.seed, run_dir=args.out, resume=args.resume,
        objective=chosen.objective, epochs=args.epochs,
        preset=dataclasses.replace(chosen, format=None),  # one format layer, at the end
        eval_every=args.eval_every, format_epochs=format_epochs, keep_last=args.keep_last,
    )
    _write_json(os.path.join(args.out, "sigma_combined.json"), {"sigmas": sigmas, **acc})
    held = _run_epochs(args.out, "sigma-combined")
    print(f"{args.out} holds {_epochs(held)} of each network of the sigma-combined "
          f"{' '.join(f'{s:g}' for s in sigmas)}: test accuracy {_pct(acc['test_acc'])}")


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _run_format(args: argparse.Namespace) -> None:
    _refuse_other_kinds(args.run_dir, "format")
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
    _refuse_other_kinds(args.run_dir, "plot")
    for path in bt.plot_run(args.run_dir, out_dir=args.out_dir):
        print(path)
