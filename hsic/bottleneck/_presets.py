"""Presets: named training configurations, each one frozen value that expands into a run.

A [`Preset`][hsic.bottleneck.Preset] holds every setting of an HSIC-bottleneck run but the
data, the epochs and the seed: the network's options, the
[`Objective`][hsic.bottleneck.Objective], the optimizer (SGD's learning rate, momentum and
weight decay), the update order, the batch size and the format stage's
[`FormatProtocol`][hsic.bottleneck.FormatProtocol]. [`preset`][hsic.bottleneck.preset] looks
one up by name and model; ``Preset.replace`` gives explicit options precedence over it;
[`train`][hsic.bottleneck.train] takes it as ``preset=`` and records every effective setting
in ``config.json``.

The presets (``PRESETS``):

* ``"default"``: the library's own settings, what [`train`][hsic.bottleneck.train] runs
  without a preset: BatchNorm without parameters; the MLP 5 × 256 with β = 50 (the official
  code's MNIST MLP setting, the best of a sweep), the resnet with the padded stem and
  β = 500; σ = 5, NOCCO; batch 256; SGD at lr 0.01 with momentum 0.9 (kept across steps) and
  weight decay 1e-3; simultaneous updates; no format stage during training.
* ``"paper"``: the official code's MNIST configuration (Ma, Lewis and Kleijn 2020,
  ``choasma/HSIC-bottleneck``), per model:

    * ``resnet`` (``resconv-hsicbt.yaml``, ``resconv-format.yaml``): BatchNorm without
      parameters, the unpadded 5×5 stride-2 stem (12×12 maps, 9216 features into the dense
      block), 5 residual blocks of 64 channels, dense 512; σ = 5, β = 200, NOCCO with
      ε = 1e-5; batch 512; plain SGD at lr 0.01 with weight decay 1e-3 (the official code
      builds a fresh ``torch.optim.SGD(momentum=0.9)`` per layer and batch, so its momentum
      never builds up: each step is ``w ← w − η(∇loss + λw)``); sequential layer updates;
      the format stage ``FORMAT_PROTOCOLS["paper"]`` (SGD lr 0.01, weight decay 1e-3, batch
      512, 5 epochs);
    * ``mlp`` (``general-hsicbt.yaml``, ``general-format.yaml``): 7 dense blocks of 128 units
      (an input block, 5 hidden blocks and an output block, as the official ``ModelLinear``)
      with BatchNorm without parameters; σ = 5, β = 50; batch 512; plain SGD at lr 1e-4 with
      weight decay 1e-3; sequential updates; the format stage
      ``FORMAT_PROTOCOLS["paper-mlp"]`` (SGD lr 0.005, weight decay 1e-3, batch 256,
      5 epochs).

  What still differs from the official code: it updates BatchNorm's running statistics at
  every one of its per-layer forward passes (so several times per batch), where this library
  updates them once per batch; its format head starts at PyTorch's random initialisation,
  ours at zero; its ``DataLoader`` shuffles with its own generator.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import optax

from hsic._base.validation import check_choice, check_number, check_positive_int
from hsic.bottleneck._evaluate import FORMAT_PROTOCOLS, FormatProtocol, format_protocol
from hsic.bottleneck._models import Network, mlp, resnet
from hsic.bottleneck._objective import Objective, check_objective
from hsic.bottleneck._step import UPDATES, paper_optimizer

__all__ = ["PRESETS", "Preset", "preset"]

MODELS = ("mlp", "resnet")
#: The network options a preset may set, per model (the keywords of ``mlp`` and ``resnet``).
MODEL_OPTIONS = {
    "mlp": ("widths", "activation", "batch_norm", "dtype"),
    "resnet": ("n_blocks", "channels", "hidden", "activation", "batch_norm", "stem_padding",
               "dtype"),
}
OBJECTIVE_FIELDS = ("beta", "sigma", "normalisation", "epsilon")


@dataclasses.dataclass(frozen=True)
class Preset:
    """Every setting of an HSIC-bottleneck run but the data, epochs and seed (a frozen value).

    Build one with [`preset`][hsic.bottleneck.preset] (by name) and change it with
    ``replace`` (explicit options win). It is checked when built.

    Attributes:
      name: the preset's name (kept by ``replace``, so records say what it started from).
      model: ``"mlp"`` or ``"resnet"``: the network it is for.
      model_options: the keywords of ``mlp``/``resnet`` it sets, as ``(name, value)`` pairs
        (e.g. ``batch_norm``, ``stem_padding``, ``widths``).
      objective: the [`Objective`][hsic.bottleneck.Objective].
      batch_size: m.
      learning_rate: SGD's learning rate.
      momentum: SGD's momentum (0: plain SGD).
      weight_decay: SGD's (L2) weight decay.
      update: ``"simultaneous"`` or ``"sequential"``.
      format: the format stage's [`FormatProtocol`][hsic.bottleneck.FormatProtocol], or None
        (no format layer during training).

    Example:
      >>> from hsic.bottleneck import preset
      >>> paper = preset("paper", model="resnet")
      >>> paper.objective.beta, paper.batch_size, paper.momentum, paper.update
      (200.0, 512, 0.0, 'sequential')
      >>> mine = paper.replace(batch_size=256, beta=500.0, batch_norm="learnable")
      >>> mine.batch_size, mine.objective.beta, dict(mine.model_options)["batch_norm"]
      (256, 500.0, 'learnable')
      >>> net = paper.network(input_shape=(28, 28, 1))
      >>> net.config_dict()["stem_padding"]
      'valid'
    """

    name: str
    model: Literal["mlp", "resnet"]
    model_options: tuple[tuple[str, Any], ...]
    objective: Objective
    batch_size: int
    learning_rate: float
    momentum: float
    weight_decay: float
    update: Literal["simultaneous", "sequential"]
    format: FormatProtocol | None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"`name` must be a non-empty string; got {self.name!r}.")
        model = check_choice(self.model, "model", MODELS)
        options = tuple((str(k), _frozen(v)) for k, v in dict(self.model_options).items())
        for key, _ in options:
            check_choice(key, "model_options", MODEL_OPTIONS[model])
        checked = {
            "model_options": options,
            "objective": check_objective(self.objective),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "learning_rate": check_number(self.learning_rate, "learning_rate",
                                          "a positive number", low=0, low_open=True),
            "momentum": check_number(self.momentum, "momentum", "a non-negative number", low=0),
            "weight_decay": check_number(self.weight_decay, "weight_decay",
                                         "a non-negative number", low=0),
            "update": check_choice(self.update, "update", UPDATES),
            "format": None if self.format is None else format_protocol(self.format),
        }
        if checked["batch_size"] < 2:
            raise ValueError(
                f"`batch_size` must be at least 2 (HSIC needs pairs); got {self.batch_size}."
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Preset:
        """A copy with ``changes``, which win over the preset's values.

        Takes the fields (``batch_size``, ``learning_rate``, ``momentum``, ``weight_decay``,
        ``update``, ``objective``, ``format``: a protocol or its name), the objective's fields
        (``beta``, ``sigma``, ``normalisation``, ``epsilon``) and the network's options of
        ``model_options`` (e.g. ``batch_norm``, ``stem_padding``, ``widths``). A value of None
        leaves the setting as it is, so that unset command-line options can be passed through.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        fields = {f.name for f in dataclasses.fields(self)} - {"name", "model", "model_options"}
        allowed = (*sorted(fields), *OBJECTIVE_FIELDS, *MODEL_OPTIONS[self.model])
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise ValueError(
                f"`{unknown[0]}` is not a setting of a {self.model} preset; use one of "
                f"{', '.join(allowed)}."
            )
        objective = changes.pop("objective", self.objective)
        tweaks = {k: changes.pop(k) for k in OBJECTIVE_FIELDS if k in changes}
        if tweaks:
            objective = dataclasses.replace(check_objective(objective), **tweaks)
        options = dict(self.model_options)
        options.update({k: changes.pop(k) for k in MODEL_OPTIONS[self.model] if k in changes})
        if "format" in changes:
            changes["format"] = format_protocol(changes["format"])
        return dataclasses.replace(self, objective=objective, model_options=tuple(options.items()),
                                   **changes)

    def optimizer(self) -> optax.GradientTransformation:
        """SGD with the preset's learning rate, momentum and weight decay
        ([`paper_optimizer`][hsic.bottleneck.paper_optimizer])."""
        return paper_optimizer(self.learning_rate, momentum=self.momentum,
                               weight_decay=self.weight_decay)

    def network(self, *, input_shape: tuple[int, ...] = (28, 28, 1), **options: Any) -> Network:
        """The preset's network for samples of ``input_shape``; ``options`` (keywords of
        ``mlp`` or ``resnet``) win over the preset's ``model_options``."""
        merged = {**dict(self.model_options),
                  **{k: v for k, v in options.items() if v is not None}}
        if self.model == "mlp":
            widths = merged.pop("widths", (256, 256, 256, 256, 256))
            return mlp(widths, input_shape=input_shape, **merged)
        return resnet(merged.pop("n_blocks", 5), input_shape=input_shape, **merged)

    def settings(self) -> dict[str, Any]:
        """Every setting, JSON-ready (as ``config.json`` records it)."""
        return {
            "name": self.name, "model": self.model,
            "model_options": {k: list(v) if isinstance(v, tuple) else v
                              for k, v in self.model_options},
            **dataclasses.asdict(self.objective), "batch_size": self.batch_size,
            "optimizer": {"name": "sgd", "learning_rate": self.learning_rate,
                          "momentum": self.momentum, "weight_decay": self.weight_decay},
            "update": self.update,
            "format": None if self.format is None else self.format.settings(),
        }


def _frozen(value: Any) -> Any:
    """Lists (e.g. ``widths``) as tuples, so that a preset is hashable."""
    return tuple(value) if isinstance(value, list) else value


#: The presets, by name and then model (see the module notes).
PRESETS: dict[str, dict[str, Preset]] = {
    "default": {
        "resnet": Preset(
            "default", "resnet",
            (("n_blocks", 5), ("channels", 64), ("hidden", 512), ("activation", "relu"),
             ("batch_norm", "parameter-free"), ("stem_padding", "same")),
            Objective(beta=500.0), batch_size=256, learning_rate=0.01, momentum=0.9,
            weight_decay=1e-3, update="simultaneous", format=None,
        ),
        "mlp": Preset(
            "default", "mlp",
            (("widths", (256,) * 5), ("activation", "relu"), ("batch_norm", "parameter-free")),
            Objective(beta=50.0), batch_size=256, learning_rate=0.01, momentum=0.9,
            weight_decay=1e-3, update="simultaneous", format=None,
        ),
    },
    "paper": {
        "resnet": Preset(
            "paper", "resnet",
            (("n_blocks", 5), ("channels", 64), ("hidden", 512), ("activation", "relu"),
             ("batch_norm", "parameter-free"), ("stem_padding", "valid")),
            Objective(beta=200.0, sigma=5.0, normalisation="nocco", epsilon=1e-5),
            batch_size=512, learning_rate=0.01, momentum=0.0, weight_decay=1e-3,
            update="sequential", format=FORMAT_PROTOCOLS["paper"],
        ),
        "mlp": Preset(
            "paper", "mlp",
            (("widths", (128,) * 7), ("activation", "relu"), ("batch_norm", "parameter-free")),
            Objective(beta=50.0, sigma=5.0, normalisation="nocco", epsilon=1e-5),
            batch_size=512, learning_rate=1e-4, momentum=0.0, weight_decay=1e-3,
            update="sequential", format=FORMAT_PROTOCOLS["paper-mlp"],
        ),
    },
}


def preset(name: str, *, model: str = "resnet") -> Preset:
    """The [`Preset`][hsic.bottleneck.Preset] named ``name`` for ``model``.

    Args:
      name: a preset's name: ``"default"`` or ``"paper"`` (see the module notes).
      model: ``"resnet"`` (default) or ``"mlp"``.

    Returns:
      A [`Preset`][hsic.bottleneck.Preset].

    Raises:
      ValueError: for an unknown name (listing the presets) or model.

    Example:
      >>> from hsic.bottleneck import preset
      >>> preset("paper", model="mlp").objective.beta
      50.0
      >>> preset("fast")
      Traceback (most recent call last):
      ...
      ValueError: `preset` must be one of 'default', 'paper'; got 'fast'.
    """
    if not isinstance(name, str) or name not in PRESETS:
        names = ", ".join(repr(k) for k in PRESETS)
        raise ValueError(f"`preset` must be one of {names}; got {name!r}.")
    return PRESETS[name][check_choice(model, "model", MODELS)]
