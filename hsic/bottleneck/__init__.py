"""HSIC-bottleneck training: networks trained layer-wise without backpropagation.

Ma, Lewis and Kleijn (AAAI 2020) train each block ``i`` of a network with its own loss,
``nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)``, then a linear "format" layer on the frozen output. This
package holds the networks ([`mlp`][hsic.bottleneck.mlp], [`resnet`][hsic.bottleneck.resnet]),
the [`Objective`][hsic.bottleneck.Objective] (built on the core's kernels and estimators), the
per-batch [`layerwise_step`][hsic.bottleneck.layerwise_step] for one's own loop, the
convenience loop [`train`][hsic.bottleneck.train] and its baselines, the
[`Preset`][hsic.bottleneck.Preset] configurations (``"paper"``: the official code's), the
read-outs and the format stage, the dataset readers, checkpoints and run plots. The
``hsic bottleneck`` command wraps it.

Example:
    >>> import numpy as np
    >>> from hsic import bottleneck
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 256).astype(np.int32)
    >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
    >>> data = bottleneck.Dataset(x, y, None, None, 2, "toy")
    >>> run = bottleneck.train(bottleneck.mlp([16, 2], input_shape=(4,)), data,
    ...                        objective=bottleneck.Objective(beta=50.0), epochs=1, batch_size=64)
    >>> sorted(run.history[0])[:3]
    ['epoch', 'loss', 'nhsic_zx']
"""

from hsic.bottleneck._baselines import train_backprop, train_sigma_combined
from hsic.bottleneck._checkpoint import load_checkpoint, save_checkpoint
from hsic.bottleneck._data import Dataset, load_dataset, read_cifar10, read_idx
from hsic.bottleneck._evaluate import (
    FORMAT_PROTOCOLS,
    FormatLayer,
    FormatProtocol,
    FormatResult,
    HSICPlane,
    class_map,
    features,
    fit_format,
    format_accuracy,
    format_protocol,
    hsic_plane,
    train_format,
    unformatted_accuracy,
)
from hsic.bottleneck._models import (
    ACTIVATIONS,
    BATCH_NORMS,
    STEM_PADDINGS,
    Network,
    mlp,
    resnet,
)
from hsic.bottleneck._objective import (
    NORMALISATIONS,
    Objective,
    bottleneck_gram,
    bottleneck_losses,
    layer_hsic,
    layer_loss,
    layer_targets,
)
from hsic.bottleneck._plots import plot_run
from hsic.bottleneck._presets import PRESETS, Preset, preset
from hsic.bottleneck._step import (
    LayerwiseStep,
    StepMetrics,
    StepState,
    layerwise_step,
    paper_optimizer,
)
from hsic.bottleneck._train import TrainingDiverged, TrainResult, load_run, train

__all__ = [
    "ACTIVATIONS",
    "BATCH_NORMS",
    "FORMAT_PROTOCOLS",
    "NORMALISATIONS",
    "PRESETS",
    "STEM_PADDINGS",
    "Dataset",
    "FormatLayer",
    "FormatProtocol",
    "FormatResult",
    "HSICPlane",
    "LayerwiseStep",
    "Network",
    "Objective",
    "Preset",
    "StepMetrics",
    "StepState",
    "TrainResult",
    "TrainingDiverged",
    "bottleneck_gram",
    "bottleneck_losses",
    "class_map",
    "features",
    "fit_format",
    "format_accuracy",
    "format_protocol",
    "hsic_plane",
    "layer_hsic",
    "layer_loss",
    "layer_targets",
    "layerwise_step",
    "load_checkpoint",
    "load_dataset",
    "load_run",
    "mlp",
    "paper_optimizer",
    "plot_run",
    "preset",
    "read_cifar10",
    "read_idx",
    "resnet",
    "save_checkpoint",
    "train",
    "train_backprop",
    "train_format",
    "train_sigma_combined",
    "unformatted_accuracy",
]
