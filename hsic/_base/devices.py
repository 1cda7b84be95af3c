"""Device meshes: where the sharded statistics and nulls run.

The public [`hsic.make_mesh`][hsic.make_mesh] builds a 1-D mesh; ``resolve_mesh`` turns an API
call's ``devices=``/``mesh=`` arguments into one mesh, or ``None`` for JAX's default device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import jax
import numpy as np
from jax.sharding import Mesh

from hsic._base.validation import is_number

__all__ = ["AXIS", "check_mesh", "make_mesh", "resolve_mesh"]

#: Name of the axis of the meshes built by ``make_mesh``.
AXIS = "devices"


def make_mesh(devices: None | int | jax.Device | Sequence[jax.Device] = None) -> Mesh:
    """A 1-D device mesh (axis ``"devices"``) to run the statistic and the null on.

    Args:
      devices: ``None`` for every device of ``jax.devices()`` (all visible GPUs, or every
        process's devices after ``jax.distributed.initialize``); an int ``k`` for the first
        ``k`` of them; one ``jax.Device`` (to run on that device, e.g. the second GPU); or
        a sequence of distinct ``jax.Device`` objects of one platform.

    Returns:
      A ``jax.sharding.Mesh`` with one axis, ``"devices"``.

    Raises:
      ValueError: if ``devices`` is empty, a count outside ``1..len(jax.devices())``, holds
        something that is not a ``jax.Device``, repeats a device, or mixes platforms.

    Example:
      >>> import hsic
      >>> mesh = hsic.make_mesh(1)
      >>> mesh.axis_names, mesh.size
      (('devices',), 1)
    """
    available = jax.devices()
    if devices is None:
        chosen = list(available)
    elif isinstance(devices, jax.Device):
        chosen = [devices]
    elif is_number(devices, integer=True):
        count = cast(int, devices)  # an int or a NumPy integer
        if not 1 <= count <= len(available):
            raise ValueError(
                f"`devices` must be between 1 and the number of visible devices, "
                f"{len(available)}; got {devices}. Check jax.devices()."
            )
        chosen = list(available[: int(count)])
    elif isinstance(devices, Iterable) and not isinstance(devices, (str, bytes)):
        chosen = list(devices)
        if not chosen:
            raise ValueError("`devices` must not be empty; pass None to use every device.")
        for device in chosen:
            if not isinstance(device, jax.Device):
                raise ValueError(
                    "`devices` must hold jax.Device objects (from jax.devices()); "
                    f"got {device!r}."
                )
        if len(set(chosen)) != len(chosen):
            raise ValueError("`devices` lists a device more than once; list each device once.")
        if len({d.platform for d in chosen}) > 1:
            raise ValueError(
                "`devices` mixes platforms "
                f"({sorted({d.platform for d in chosen})}); use devices of one platform."
            )
    else:
        raise ValueError(
            "`devices` must be None, a positive int or a sequence of jax.Device; "
            f"got {devices!r}."
        )
    return Mesh(np.array(chosen), (AXIS,))


def check_mesh(mesh: Mesh) -> str:
    """Check that ``mesh`` is a 1-D ``jax.sharding.Mesh``; return its axis name."""
    if not isinstance(mesh, Mesh) or len(mesh.axis_names) != 1:
        raise ValueError(
            "`mesh` must be a 1-D jax.sharding.Mesh, e.g. hsic's make_mesh(); "
            f"got {mesh!r}."
        )
    return mesh.axis_names[0]


def resolve_mesh(
    *, devices: None | int | Sequence[jax.Device] = None, mesh: Mesh | None = None
) -> Mesh | None:
    """The mesh an API call asked for: ``mesh`` itself, ``make_mesh(devices)``, or ``None``
    when neither is given (the single-device path, without a mesh). To use every device, pass
    ``devices=jax.devices()`` or ``mesh=make_mesh()``.

    Raises:
      ValueError: if both are given, or either is invalid.

    Example:
      >>> from hsic._base.devices import resolve_mesh
      >>> resolve_mesh() is None, resolve_mesh(devices=1).size
      (True, 1)
    """
    if devices is not None and mesh is not None:
        raise ValueError("Pass `devices` or `mesh`, not both.")
    if mesh is not None:
        check_mesh(mesh)
        return mesh
    return None if devices is None else make_mesh(devices)
