"""Checkpoints and metrics logs of the HSIC-bottleneck trainer: plain files, never pickle.

This module owns how a training run is stored on disk, and nothing else:

* a **checkpoint** is a pair of files. ``<path>.npz`` holds the leaves of a pytree (parameters,
  BatchNorm state, an optax optimizer state, step counters, a NumPy RNG state...), each stored
  under its ``jax.tree_util.keystr`` key path. ``<path>.json`` holds the user's metadata, a
  description of every leaf (key path, kind, shape, dtype) and the SHA-256 of the ``.npz``.
  Each file is written atomically (a temporary file in the same directory, flushed and
  ``fsync``-ed, then ``os.replace``-d), the ``.npz`` first and the ``.json`` last, so the
  ``.json`` is the commit record: a checkpoint whose ``.npz`` does not match the digest in its
  ``.json`` is incomplete, and is refused by `load_checkpoint` and skipped by
  `latest_checkpoint`. Reading uses ``np.load(..., allow_pickle=False)``.
* a **metrics log** is a JSON-lines file (`append_jsonl`, `read_jsonl`; `write_jsonl`
  replaces it atomically): one JSON object per line, with NumPy and JAX scalars and arrays
  turned into plain numbers and lists. `write_json` writes a run's ``config.json``
  atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.io import DataFileError

__all__ = [
    "append_jsonl",
    "latest_checkpoint",
    "load_checkpoint",
    "read_jsonl",
    "save_checkpoint",
    "write_json",
    "write_jsonl",
]

#: The ``format`` field of a checkpoint's JSON file, and the version of its layout.
FORMAT = "hsic.bottleneck.checkpoint"
VERSION = 1

_INT64 = np.iinfo(np.int64)
_NUMPY_DTYPE = {"bool": np.bool_, "int": np.int64, "float": np.float64}


# --- atomic files ----------------------------------------------------------------------------


def _write_temp(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write a temporary sibling of ``path`` with ``write(f)``, flushed and fsync-ed.

    The temporary file is created with mode 0o666 minus the umask (as ``open`` would), in the
    same directory as ``path`` so that ``os.replace`` is atomic. It is removed if ``write``
    raises.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` atomically: readers see the old file or the complete new one, never a part.

    ``write(f)`` writes the content to a binary file object. If it raises, ``path`` is left as
    it was and the temporary file is removed.
    """
    path = Path(path)
    tmp = _write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- JSON conversion -------------------------------------------------------------------------


def to_json(value: Any, where: str = "value") -> Any:
    """Convert ``value`` to plain JSON types (dict, list, str, int, float, bool, None).

    NumPy and JAX scalars become Python numbers, arrays become (nested) lists, tuples become
    lists. Non-finite floats (NaN, inf) become ``None`` so that the output is strict JSON that
    any tool reads. ``where`` names the value in error messages.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):  # after bool, which is an int
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, (np.integer, int)) and not isinstance(key, bool):
                key = str(int(key))
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} must have string keys to be written as JSON; got key {key!r} "
                    f"of type {type(key).__name__}."
                )
            out[key] = to_json(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"{where} must hold numbers to be written as JSON; got an array of dtype "
                f"{arr.dtype}."
            )
        return to_json(arr.tolist(), where)
    raise ValueError(
        f"{where} must be a number, string, bool, None, list, dict or array to be written as "
        f"JSON; got {type(value).__name__}."
    )


# --- metrics logs ----------------------------------------------------------------------------


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one record to a JSON-lines file, as one line, flushed to disk.

    NumPy and JAX scalars become plain floats and ints, arrays become lists, and non-finite
    floats (NaN, inf) become ``null``, so every line is strict JSON. The line is written with
    a single ``write`` call on a file opened in append mode, then flushed and ``fsync``-ed.

    Args:
      path: the ``.jsonl`` file; created if missing.
      record: a mapping with string keys.

    Raises:
      ValueError: if ``record`` is not a mapping or holds something JSON cannot represent.

    Example:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> from hsic.bottleneck._checkpoint import append_jsonl, read_jsonl
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     log = pathlib.Path(tmp, "metrics.jsonl")
      ...     append_jsonl(log, {"epoch": 1, "loss": np.array([0.5, 0.25], np.float32)})
      ...     append_jsonl(log, {"epoch": 2, "loss": [np.float32(0.125), float("nan")]})
      ...     read_jsonl(log)
      [{'epoch': 1, 'loss': [0.5, 0.25]}, {'epoch': 2, 'loss': [0.125, None]}]
    """
    line = _jsonl_line(record)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _jsonl_line(record: Any, where: str = "`record`") -> str:
    if not isinstance(record, Mapping):
        raise ValueError(f"{where} must be a dict; got {type(record).__name__}.")
    return json.dumps(to_json(record, where), allow_nan=False) + "\n"


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    """Replace a JSON-lines file with ``records``, atomically (`atomic_write`).

    Readers see the old file or the complete new one. If a record cannot be written (it is
    not a dict, or holds something JSON cannot represent), ``ValueError`` is raised and the
    old file is left as it was. Lines are formatted as by `append_jsonl`.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic.bottleneck._checkpoint import read_jsonl, write_jsonl
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     log = pathlib.Path(tmp, "m.jsonl")
      ...     write_jsonl(log, [{"epoch": 1}, {"epoch": 2}])
      ...     write_jsonl(log, [{"epoch": 1}])
      ...     read_jsonl(log)
      [{'epoch': 1}]
    """

    def write(f):
        for i, record in enumerate(records):
            f.write(_jsonl_line(record, f"`records[{i}]`").encode("utf-8"))

    atomic_write(path, write)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write one JSON document (indented) to ``path``, atomically (`atomic_write`)."""
    atomic_write(path, lambda f: f.write(
        json.dumps(to_json(value, "`value`"), indent=2, allow_nan=False).encode("utf-8")))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file written by `append_jsonl`: one dict per non-blank line.

    Args:
      path: the ``.jsonl`` file.

    Returns:
      The records, in file order.

    Raises:
      ValueError: (a ``hsic._base.io.DataFileError``) naming the file, and the line, if the file is
        missing or a line is not a JSON object.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic.bottleneck._checkpoint import read_jsonl
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     log = pathlib.Path(tmp, "m.jsonl")
      ...     _ = log.write_text('{"epoch": 1}\\n\\n{"epoch": 2}\\n')
      ...     read_jsonl(log)
      [{'epoch': 1}, {'epoch': 2}]
    """
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataFileError(
                        path,
                        f"not valid JSON ({err.msg} at column {err.colno}); each line must be "
                        "one JSON object.",
                        number,
                    ) from None
                if not isinstance(record, dict):
                    raise DataFileError(
                        path, f"expected a JSON object; got {type(record).__name__}.", number
                    )
                records.append(record)
    except UnicodeDecodeError as err:
        raise DataFileError(path, "not a UTF-8 text file.") from err
    except FileNotFoundError as err:
        raise DataFileError(path, "no such file.") from err
    return records


# --- checkpoints -----------------------------------------------------------------------------


def _files(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(<path>.npz, <path>.json)``; a ``.npz`` or ``.json`` suffix on ``path`` is dropped."""
    base = Path(path)
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def _is_ml_float(dtype: np.dtype) -> bool:
    """bfloat16 and the float8 types: NumPy extension dtypes (kind 'V') from ml_dtypes."""
    return dtype.kind == "V" and jnp.issubdtype(dtype, jnp.floating)


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _leaf_spec(key: str, leaf: Any) -> tuple[str, tuple[int, ...], str]:
    """``(kind, shape, dtype)`` of a leaf as it is stored; a ValueError for unsupported ones."""
    if isinstance(leaf, bool):
        return "bool", (), "bool"
    if isinstance(leaf, int):
        return "int", (), "int64"
    if isinstance(leaf, float):
        return "float", (), "float64"
    if isinstance(leaf, str):
        return "str", (), "str"
    if _is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        return "jax_key", tuple(data.shape), str(data.dtype)
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
        dtype = np.dtype(leaf.dtype)
        if dtype.kind not in "biufc" and not _is_ml_float(dtype):
            raise ValueError(
                f"checkpoint leaf {key or '(root)'} has dtype {dtype}; checkpoints hold numeric "
                "and bool arrays only (object arrays would need pickle)."
            )
        kind = "jax" if isinstance(leaf, jax.Array) else "numpy"
        return kind, tuple(np.shape(leaf)), str(dtype)
    raise ValueError(
        f"checkpoint leaf {key or '(root)'} has type {type(leaf).__name__}; checkpoints hold "
        "arrays, Python numbers and strings."
    )


def _encode_leaf(key: str, leaf: Any) -> tuple[np.ndarray, dict]:
    kind, shape, dtype = _leaf_spec(key, leaf)
    entry = {"key": key, "kind": kind, "shape": list(shape), "dtype": dtype}
    if kind == "int" and not _INT64.min <= leaf <= _INT64.max:
        # A NumPy bit generator's state holds 128-bit integers: store them exactly, as text.
        return np.asarray(str(leaf)), entry
    if kind == "jax_key":
        entry["impl"] = str(jax.random.key_impl(leaf))
        return np.asarray(jax.random.key_data(leaf)), entry
    array = np.asarray(
        jax.device_get(leaf) if kind == "jax" else leaf, dtype=_NUMPY_DTYPE.get(kind)
    )
    if _is_ml_float(array.dtype):  # .npy has no bfloat16: store the bits, and the name in JSON
        array = array.view(f"u{array.dtype.itemsize}")
    return array, entry


def save_checkpoint(path: str | os.PathLike, tree: Any, metadata: dict) -> None:
    """Save a pytree and its metadata as ``<path>.npz`` and ``<path>.json``, atomically.

    The leaves of ``tree`` (JAX or NumPy arrays, NumPy scalars, Python ``int``, ``float``,
    ``bool`` and ``str``, and JAX typed PRNG keys) are stored in ``<path>.npz`` under their key
    paths (``jax.tree_util.keystr``, e.g. ``"['params'][0]['w']"``). Python integers beyond
    int64, such as a NumPy ``PCG64`` state, are stored exactly. ``<path>.json`` records
    ``metadata``, the tree structure, each leaf's key path, kind, shape and dtype, and the
    SHA-256 of the ``.npz``. Nothing is pickled.

    Both files are first written to temporary files in the same directory, flushed and
    ``fsync``-ed; then the ``.npz`` and then the ``.json`` are renamed into place with
    ``os.replace``. If writing fails, the previous checkpoint at ``path`` (if any) is left
    intact and the temporary files are removed. Should the process die between the two renames,
    the new ``.npz`` no longer matches the digest in the old ``.json``; `load_checkpoint`
    then refuses the pair and `latest_checkpoint` skips it, so use a new ``path`` per
    checkpoint where an older one must survive any crash.

    Args:
      path: the checkpoint's path without suffix (a ``.npz`` or ``.json`` suffix is dropped).
        Its directory must exist.
      tree: a pytree (nested dicts, lists, tuples, NamedTuples such as optax states, ``None``).
      metadata: a dict with string keys of JSON-compatible values (NumPy and JAX scalars and
        arrays are converted; tuples come back as lists).

    Raises:
      ValueError: if a leaf has an unsupported type or dtype (e.g. an object array), or the
        metadata cannot be written as JSON.

    Example:
      >>> import pathlib, tempfile
      >>> import jax, jax.numpy as jnp, optax
      >>> from hsic.bottleneck._checkpoint import load_checkpoint, save_checkpoint
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> state = {"params": params, "opt": optax.sgd(0.1, momentum=0.9).init(params), "step": 7}
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     save_checkpoint(pathlib.Path(tmp, "ckpt"), state, {"epoch": 1})
      ...     restored, meta = load_checkpoint(pathlib.Path(tmp, "ckpt"), like=state)
      >>> momentum = jax.tree_util.tree_leaves(restored["opt"])
      >>> meta, restored["step"], [m.shape for m in momentum]
      ({'epoch': 1}, 7, [(3,), (2, 3)])
    """
    if not isinstance(metadata, Mapping):
        raise ValueError(f"`metadata` must be a dict; got {type(metadata).__name__}.")
    npz_path, json_path = _files(path)
    meta = to_json(metadata, "`metadata`")
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    arrays, entries = {}, []
    for key_path, leaf in flat:
        key = jax.tree_util.keystr(key_path)
        arrays[key], entry = _encode_leaf(key, leaf)
        entries.append(entry)

    # No leaf is an object array (_leaf_spec refuses them), so nothing in the .npz is pickled.
    # The keys are key paths ('[0]', "['w']", '.x'), never savez's keyword allow_pickle.
    npz_tmp = _write_temp(npz_path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
    try:
        record = {
            "format": FORMAT,
            "version": VERSION,
            "saved_at": time.time(),
            "npz": npz_path.name,
            "npz_sha256": sha256_file(npz_tmp),
            "treedef": str(treedef),
            "leaves": entries,
            "metadata": meta,
        }
        text = json.dumps(record, indent=1, allow_nan=False).encode("utf-8")
        json_tmp = _write_temp(json_path, lambda f: f.write(text))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(npz_tmp)
        raise
    try:
        os.replace(npz_tmp, npz_path)
        os.replace(json_tmp, json_path)
    except BaseException:
        for tmp in (npz_tmp, json_tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    _fsync_dir(json_path.parent)


def _read_record(json_path: Path) -> dict:
    """The parsed ``.json`` of a checkpoint, checked for format and version."""
    try:
        with open(json_path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError as err:
        raise DataFileError(json_path, "no such checkpoint file.") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFileError(json_path, f"not a checkpoint's JSON file ({err}).") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataFileError(json_path, f"not a checkpoint written by save_checkpoint ({FORMAT}).")
    if record.get("version") != VERSION:
        raise DataFileError(
            json_path,
            f"checkpoint layout version {record.get('version')!r}; this hsic reads {VERSION}.",
        )
    return record


def _check_complete(npz_path: Path, json_path: Path, record: dict) -> None:
    if not npz_path.is_file():
        raise DataFileError(npz_path, f"missing; {json_path.name} refers to it.")
    if sha256_file(npz_path) != record.get("npz_sha256"):
        raise DataFileError(
            npz_path,
            f"does not match the SHA-256 recorded in {json_path.name}: the checkpoint is "
            "incomplete (interrupted while saving) or corrupt. Use an earlier checkpoint "
            "(see latest_checkpoint).",
        )


def _decode_leaf(key: str, stored: np.ndarray, like: Any, entry: dict | None) -> Any:
    """The leaf ``stored`` as the type of ``like``; a ValueError naming it on any mismatch."""
    kind, shape, dtype = _leaf_spec(key, like)
    scalar = stored.shape == ()
    if kind == "int":
        if scalar and stored.dtype.kind in "iu":
            return int(stored)
        if scalar and stored.dtype.kind == "U" and str(stored).lstrip("-").isdigit():
            return int(str(stored))  # beyond int64, stored as text
    elif kind == "float":
        if scalar and stored.dtype.kind == "f":
            return float(stored)
    elif kind == "bool":
        if scalar and stored.dtype == np.bool_:
            return bool(stored)
    elif kind == "str":
        if scalar and stored.dtype.kind == "U":
            return str(stored)
    else:
        expected = jnp.dtype(dtype)
        bits = np.dtype(f"u{expected.itemsize}")
        if _is_ml_float(expected) and stored.dtype == bits and (entry or {}).get("dtype") == dtype:
            stored = stored.view(expected)  # bfloat16 and float8 are stored as their bits
        recorded = (entry or {}).get("dtype", dtype)  # what was saved, before any bit view
        if (stored.shape, str(stored.dtype), recorded) == (shape, dtype, dtype):
            if kind == "numpy":
                return stored if isinstance(like, np.ndarray) else stored[()]
            if kind == "jax_key":
                impl = (entry or {}).get("impl", str(jax.random.key_impl(like)))
                return jax.random.wrap_key_data(jnp.asarray(stored), impl=impl)
            sharding = getattr(like, "sharding", None)
            return jax.device_put(stored, sharding) if sharding is not None else jnp.asarray(stored)
    got = f"shape {stored.shape} and dtype {(entry or {}).get('dtype', stored.dtype)}"
    if kind in ("int", "float", "bool", "str"):
        want = f"a Python {kind}"
    else:
        want = f"shape {shape} and dtype {dtype}"
    raise ValueError(f"checkpoint leaf {key or '(root)'} has {got}; `like` expects {want}.")


def load_checkpoint(path: str | os.PathLike, like: Any) -> tuple[Any, dict]:
    """Load a checkpoint written by `save_checkpoint` into the structure of ``like``.

    The ``.npz`` is read with ``np.load(..., allow_pickle=False)`` after checking that it
    matches the SHA-256 recorded in the ``.json``. Every key path of ``like`` must be in the
    checkpoint and vice versa, with the same shape and dtype. Leaves come back as the type of
    the corresponding leaf of ``like``: JAX arrays (placed with ``like``'s sharding), NumPy
    arrays, or Python ``int``/``float``/``bool``/``str``. JAX's weak-type flag is not
    restored (the arrays come back strongly typed).

    Args:
      path: the checkpoint's path without suffix (as given to `save_checkpoint`).
      like: a pytree of the expected structure; only its structure, shapes and dtypes are used.

    Returns:
      ``(tree, metadata)``: the restored pytree and the metadata dict (JSON types).

    Raises:
      ValueError: if a file is missing or corrupt, the checkpoint is incomplete, or a leaf is
        missing, extra, or has another shape or dtype; the message names the file or leaf.

    Example:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> from hsic.bottleneck._checkpoint import load_checkpoint, save_checkpoint
      >>> rng = np.random.default_rng(0)
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     save_checkpoint(pathlib.Path(tmp, "c"), rng.bit_generator.state, {})
      ...     state, _ = load_checkpoint(pathlib.Path(tmp, "c"), like=rng.bit_generator.state)
      >>> state == rng.bit_generator.state
      True
    """
    npz_path, json_path = _files(path)
    record = _read_record(json_path)
    _check_complete(npz_path, json_path, record)
    entries = {e.get("key"): e for e in record.get("leaves", []) if isinstance(e, dict)}
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    keys = [jax.tree_util.keystr(key_path) for key_path, _ in flat]
    leaves = []
    try:
        npz = np.load(npz_path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataFileError(npz_path, f"not a readable .npz archive ({err}).") from err
    with npz:
        stored = set(npz.files)
        for key, (_, leaf) in zip(keys, flat, strict=True):
            if key not in stored:
                raise ValueError(
                    f"checkpoint leaf {key or '(root)'} is missing from {npz_path}; `like` has "
                    "a different structure than the saved tree."
                )
            try:
                array = npz[key]
            except ValueError as err:  # an object array: np.load refuses to unpickle it
                raise ValueError(
                    f"checkpoint leaf {key or '(root)'} in {npz_path} cannot be read without "
                    f"pickle ({err}); checkpoints never unpickle."
                ) from err
            leaves.append(_decode_leaf(key, array, leaf, entries.get(key)))
        extra = sorted(stored - set(keys))
        if extra:
            raise ValueError(
                f"checkpoint leaf {extra[0] or '(root)'} in {npz_path} is not in `like` "
                f"({len(extra)} extra leaves); `like` has a different structure than the saved "
                "tree."
            )
    return jax.tree_util.tree_unflatten(treedef, leaves), record.get("metadata", {})


def latest_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """The most recently saved complete checkpoint in a directory, or ``None``.

    Looks at the ``*.json`` files directly in ``run_dir`` that `save_checkpoint` wrote,
    newest first by the save time recorded inside them (then by ``metadata["step"]``, then by
    name), and returns the first whose ``.npz`` exists and matches its recorded SHA-256.
    Incomplete, corrupt and unrelated files are skipped.

    Args:
      run_dir: the directory; a missing directory has no checkpoint.

    Returns:
      The checkpoint's path without suffix, to pass to `load_checkpoint`, or ``None``.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic.bottleneck._checkpoint import latest_checkpoint, save_checkpoint
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     empty = latest_checkpoint(tmp)
      ...     for step in (100, 200):
      ...         save_checkpoint(pathlib.Path(tmp, f"step{step}"), {"x": 1.0}, {"step": step})
      ...     newest = pathlib.Path(latest_checkpoint(tmp)).name
      >>> empty, newest
      (None, 'step200')
    """
    directory = Path(run_dir)
    if not directory.is_dir():
        return None
    candidates = []
    for json_path in directory.glob("*.json"):
        try:
            record = _read_record(json_path)
        except (ValueError, OSError):
            continue
        saved_at = record.get("saved_at")
        step = (record.get("metadata") or {}).get("step")
        candidates.append(
            (
                saved_at if isinstance(saved_at, (int, float)) else -math.inf,
                step if isinstance(step, (int, float)) else -math.inf,
                json_path.name,
                json_path,
                record,
            )
        )
    for *_, json_path, record in sorted(candidates, key=lambda c: c[:3], reverse=True):
        npz_path = json_path.with_suffix(".npz")
        try:
            _check_complete(npz_path, json_path, record)
        except (ValueError, OSError):
            continue
        return str(json_path.with_suffix(""))
    return None
