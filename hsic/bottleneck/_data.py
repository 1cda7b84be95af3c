"""Image datasets for the HSIC-bottleneck trainer: MNIST, Fashion-MNIST and CIFAR-10 readers.

This module owns the dataset files and their checks:

* `read_idx` reads one IDX file (the MNIST and Fashion-MNIST format), gzipped or not,
  checking its magic number, type code, dimensions and exact size;
* `read_cifar10` reads the CIFAR-10 *binary* version (``data_batch_1.bin`` ...) or the
  *python* version (``data_batch_1`` ... pickles). The pickles are never unpickled with
  ``pickle.load``: a restricted unpickler builds plain containers (dicts, lists, bytes,
  numbers) and lets through only the globals that rebuild a NumPy array (``ndarray``,
  ``dtype``, ``_reconstruct``, ``_frombuffer``, and ``_codecs.encode`` limited to latin-1).
  Every other global is refused, so a malicious file cannot run code. The result must then be
  a uint8 ``(n, 3072)`` array with integer labels;
* `load_dataset` finds the files of a named dataset (in a cache directory) or of a
  directory, verifies the known SHA-256 checksums, and returns a `Dataset` of float32
  images in ``[0, 1]`` laid out ``(N, H, W, C)`` with int32 labels. With ``download=True``
  (opt-in) it fetches missing files with ``urllib`` and verifies them before use.

Errors on files are `hsic._base.io.DataFileError` (a ``ValueError``) whose message starts
with the file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import numpy as np

from hsic._base.io import DataFileError
from hsic.bottleneck._checkpoint import atomic_write

__all__ = ["DATASETS", "Dataset", "load_dataset", "read_cifar10", "read_idx"]

#: The dataset names `load_dataset` knows, besides directories.
DATASETS = ("mnist", "fashion-mnist", "cifar10")


class Dataset(NamedTuple):
    """An image classification dataset, ready for training.

    Attributes:
      x_train: float32 images of shape ``(N, H, W, C)``, scaled to ``[0, 1]``.
      y_train: int32 labels of shape ``(N,)``, in ``0 .. num_classes - 1``.
      x_test: the test images, laid out as ``x_train``.
      y_test: the test labels.
      num_classes: the number of classes (10).
      name: ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, or the directory it was read from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str


NUM_CLASSES = 10

# --- the published files and their checksums --------------------------------------------------
# MNIST: SHA-256 of the *uncompressed* IDX files, as given in /work/shared/data/mnist/README.md
# and checked against those files; they hold whether a copy is gzipped or not.
# Fashion-MNIST: SHA-256 of the *.gz* files as served by the Zalando bucket; the same values
# appear in two independent public loaders (batchup's fashion_mnist.py, "mnists" by C. Olding).
# CIFAR-10: SHA-256 of cifar-10-binary.tar.gz (170,052,171 bytes), as recorded in public
# dataset-verification notes, where the archive also matched the MD5 the dataset's page
# publishes (c32a1d4ab5d03f1284b67883e8d87530).
_IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _table(text: str) -> dict[str, str]:
    """``{file: sha256}`` from lines of ``sha256  file``, as ``sha256sum`` prints them."""
    return {name: digest for digest, name in (line.split() for line in text.strip().splitlines())}


_SHA256_RAW: dict[str | None, dict[str, str]] = {  # looked up by name or None
    "mnist": _table(
        """
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
"""
    ),
}
_SHA256_GZ: dict[str | None, dict[str, str]] = {
    "fashion-mnist": _table(
        """
08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc  train-images-idx3-ubyte
b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc  train-labels-idx1-ubyte
78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229  t10k-images-idx3-ubyte
42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf  t10k-labels-idx1-ubyte
"""
    ),
}
_CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
_CIFAR_ARCHIVE_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9dddda3db29a59bca1dd"
#: Where downloads come from, tried in order (file names are appended).
_MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}
_SHAPES = {"mnist": (28, 28, 1), "fashion-mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
_COUNTS = {"train": 60000, "test": 10000}
_Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test

# --- IDX -----------------------------------------------------------------------------------------

#: IDX type codes (third byte of the magic number) and their big-endian NumPy dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: str | os.PathLike) -> tuple[bytes, bytes]:
    """``(file bytes, content)``: the content is the gunzipped file if it starts like a gzip."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as err:
        raise DataFileError(path, "no such file.") from err
    except OSError as err:
        raise DataFileError(path, f"cannot read the file: {err.strerror or err}.") from err
    if raw[:2] != b"\x1f\x8b":
        return raw, raw
    try:
        return raw, gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(
            path, f"corrupt or truncated gzip file ({err}); delete it and fetch it again."
        ) from err


def _parse_idx(path: str | os.PathLike, content: bytes) -> np.ndarray:
    """Parse the bytes of an IDX file (big-endian header, then the values in C order)."""
    if len(content) < 4:
        raise DataFileError(path, f"only {len(content)} bytes; too short for an IDX header.")
    magic = struct.unpack(">I", content[:4])[0]
    code, ndim = content[2], content[3]
    if content[:2] != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise DataFileError(
            path,
            f"bad magic number 0x{magic:08x}; not an IDX file (expected 0x0000TTNN with type "
            "code TT in 08, 09, 0B, 0C, 0D, 0E and NN >= 1 dimensions, e.g. 0x00000803 for "
            "images).",
        )
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataFileError(
            path, f"truncated header: {len(content)} bytes, the {ndim} dimensions need {header}."
        )
    shape = struct.unpack(f">{ndim}I", content[4:header])
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(content) != expected:
        what = "truncated" if len(content) < expected else "trailing bytes"
        raise DataFileError(
            path,
            f"{what}: {len(content)} bytes, but shape {shape} of {dtype.newbyteorder('=')} "
            f"needs exactly {expected}.",
        )
    values = np.frombuffer(content, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, the format of MNIST and Fashion-MNIST, gzipped or not.

    An IDX file is a 4-byte magic number ``0x0000TTNN`` (TT: the value type, ``08`` uint8,
    ``09`` int8, ``0B`` int16, ``0C`` int32, ``0D`` float32, ``0E`` float64; NN: the number of
    dimensions), then NN big-endian uint32 sizes, then the values in C order, big-endian
    (LeCun et al., "The MNIST database of handwritten digits"). A gzipped file is recognised by
    its own magic bytes, whatever its name. The file must be exactly as long as its header says.

    Args:
      path: the file.

    Returns:
      A NumPy array of the stored type (native byte order) and shape.

    Raises:
      ValueError: (a ``hsic._base.io.DataFileError``) naming the file, if it is missing, has a bad
        magic number or type code, is truncated or has trailing bytes, or is a corrupt gzip.

    Example:
      >>> import pathlib, struct, tempfile
      >>> from hsic.bottleneck._data import read_idx
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = pathlib.Path(tmp, "labels-idx1-ubyte")
      ...     _ = path.write_bytes(struct.pack(">II", 0x00000801, 3) + bytes([7, 0, 9]))
      ...     read_idx(path)
      array([7, 0, 9], dtype=uint8)
    """
    _, content = _read_bytes(path)
    return _parse_idx(path, content)


def _find_idx(directory: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``directory``: gzipped first, then plain, then dotted names."""
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte, a common renaming
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (directory / name).is_file():
            return directory / name
    return None


def _check_sha(path: Path, data: bytes, expected: str | None, what: str) -> None:
    if expected is None:
        return
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DataFileError(
            path,
            f"checksum mismatch: the SHA-256 of the {what} is {got}, expected {expected}. "
            "The file is corrupt or not the published one; delete it and fetch it again "
            "(download=True).",
        )


def _read_idx_split(
    images: Path, labels: Path, *, name: str | None, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read, verify and convert one split's image and label IDX files."""
    arrays = []
    for path, key in ((images, f"x_{split}"), (labels, f"y_{split}")):
        raw, content = _read_bytes(path)
        arrays.append(_parse_idx(path, content))  # first, for the clearer message on damage
        stem = _IDX_STEMS[key]
        _check_sha(path, content, _SHA256_RAW.get(name, {}).get(stem), "uncompressed content")
        if raw is not content:
            _check_sha(path, raw, _SHA256_GZ.get(name, {}).get(stem), "gzipped file")
    x, y = arrays
    if x.dtype != np.uint8 or x.ndim != 3:
        raise DataFileError(
            images, f"expected uint8 images of shape (n, rows, cols); got {x.dtype} {x.shape}."
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise DataFileError(
            labels, f"expected uint8 labels of shape (n,); got {y.dtype} {y.shape}."
        )
    if len(x) != len(y):
        raise DataFileError(
            labels, f"holds {len(y)} labels but {images.name} holds {len(x)} images."
        )
    if name is not None and (len(x), *x.shape[1:], 1) != (_COUNTS[split], *_SHAPES[name]):
        raise DataFileError(
            images,
            f"expected {_COUNTS[split]} images of {_SHAPES[name][:2]} for {name}; got {x.shape}.",
        )
    return _images(x[..., None]), _labels(labels, y)


def _images(x: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], in one pass (exactly ``x.astype(float32) / 255``)."""
    out = np.empty(x.shape, np.float32)  # C-contiguous, also for CIFAR's transposed view
    return np.divide(x, np.float32(255), out=out)


def _labels(path: Path, y: np.ndarray) -> np.ndarray:
    if y.size and int(y.max()) >= NUM_CLASSES:
        raise DataFileError(
            path, f"label {int(y.max())} is out of range; expected 0 .. {NUM_CLASSES - 1}."
        )
    return y.astype(np.int32)


def _read_idx_dir(directory: Path, *, name: str | None) -> _Splits:
    found = {key: _find_idx(directory, stem) for key, stem in _IDX_STEMS.items()}
    missing = [stem for key, stem in _IDX_STEMS.items() if found[key] is None]
    if missing:
        raise _missing(directory, [f"{m}[.gz]" for m in missing], name)
    paths = cast(dict[str, Path], found)  # none missing
    x_train, y_train = _read_idx_split(paths["x_train"], paths["y_train"], name=name, split="train")
    x_test, y_test = _read_idx_split(paths["x_test"], paths["y_test"], name=name, split="test")
    return x_train, y_train, x_test, y_test


# --- CIFAR-10 ------------------------------------------------------------------------------------

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_RECORD = 1 + 32 * 32 * 3  # a label byte, then 1024 red, 1024 green, 1024 blue bytes
_CIFAR_BATCH = 10000  # records in each published batch
_CIFAR_SUBDIRS = ("", "cifar-10-batches-bin", "cifar-10-batches-py")


def _cifar_images(pixels: np.ndarray) -> np.ndarray:
    """``(n, 3072)`` uint8 rows, channel-major, to float32 ``(n, 32, 32, 3)`` in [0, 1]."""
    return _images(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _read_cifar_bin(path: Path, records: int | None) -> tuple[np.ndarray, np.ndarray]:
    _, raw = _read_bytes(path)
    size = len(raw)
    if size == 0 or size % _CIFAR_RECORD:
        raise DataFileError(
            path,
            f"{size} bytes is not a whole number of {_CIFAR_RECORD}-byte records (a label byte "
            "and 32x32x3 pixels); the file is truncated or not a CIFAR-10 binary batch.",
        )
    if records is not None and size != records * _CIFAR_RECORD:
        raise DataFileError(
            path,
            f"{size} bytes; a CIFAR-10 batch holds {records} records, "
            f"{records * _CIFAR_RECORD} bytes.",
        )
    table = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    return _cifar_images(table[:, 1:]), _labels(path, table[:, 0])


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches, and nothing that could run code.

    The batches are dicts of bytes keys to bytes, lists of ints and bytes, and one uint8 NumPy
    array. Building those needs only the globals below; any other global (``os.system``,
    ``builtins.eval``, ...) is refused before it is looked up.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(
            f"refused global {module}.{name}: only dicts, lists, bytes, numbers and NumPy "
            "arrays are allowed in a CIFAR-10 python batch"
        )


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles of bytes use it, limited to latin-1."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refused _codecs.encode other than of a str to latin1")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    # Found through NumPy's own pickling, so it works with NumPy 1 (numpy.core) and 2
    # (numpy._core) without importing the deprecated numpy.core.
    reconstruct = np.empty(0).__reduce__()[0]
    frombuffer = np.empty(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return allowed


def _read_cifar_pickle(path: Path, records: int | None) -> tuple[np.ndarray, np.ndarray]:
    raw, _ = _read_bytes(path)
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # any failure of an untrusted pickle is a bad file
        raise DataFileError(
            path,
            f"not a CIFAR-10 python batch ({type(err).__name__}: {err}). Python-version "
            "batches are read with a restricted unpickler; use the binary version "
            "(cifar-10-binary.tar.gz) if yours holds anything else.",
        ) from None
    if not isinstance(batch, dict):
        raise DataFileError(path, f"expected a dict; got {type(batch).__name__}.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataFileError(path, "expected 'data' to be a uint8 array of shape (n, 3072).")
    if data.shape[1] != 3072 or not isinstance(labels, (list, np.ndarray)):
        raise DataFileError(
            path, f"expected 'data' of shape (n, 3072) and a list 'labels'; got {data.shape}."
        )
    y = np.asarray(labels)
    if y.shape != (len(data),) or y.dtype.kind not in "iu" or (y.size and y.min() < 0):
        raise DataFileError(path, f"expected {len(data)} integer 'labels' in 0 .. 9.")
    if records is not None and len(data) != records:
        raise DataFileError(path, f"holds {len(data)} images; a CIFAR-10 batch holds {records}.")
    return _cifar_images(data), _labels(path, y)


def _find_cifar(directory: Path) -> tuple[Path, str] | None:
    """``(folder, "bin" | "py")`` where the first CIFAR-10 batch is, binary version first."""
    for kind, suffix in (("bin", ".bin"), ("py", "")):
        for sub in _CIFAR_SUBDIRS:
            if (directory / sub / f"{_CIFAR_TRAIN[0]}{suffix}").is_file():
                return directory / sub, kind
    return None


def _read_cifar_dir(directory: Path, *, name: str | None, records: int | None = None) -> _Splits:
    where = _find_cifar(directory)
    if where is None:
        raise _missing(directory, [f"{_CIFAR_TRAIN[0]}.bin (or {_CIFAR_TRAIN[0]})"], name)
    folder, kind = where
    suffix, read = (".bin", _read_cifar_bin) if kind == "bin" else ("", _read_cifar_pickle)
    paths = [folder / f"{stem}{suffix}" for stem in (*_CIFAR_TRAIN, _CIFAR_TEST)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise _missing(folder, missing, name)
    parts = [read(p, records) for p in paths]
    x_train = np.concatenate([x for x, _ in parts[:-1]])
    y_train = np.concatenate([y for _, y in parts[:-1]])
    return x_train, y_train, *parts[-1]


def read_cifar10(directory: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """Read CIFAR-10 from a directory, in its binary or its python version.

    The binary version is ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``:
    records of one label byte and 3072 pixel bytes (the 32×32 red plane, then green, then blue,
    each row-major). The python version is ``data_batch_1`` ... ``data_batch_5`` and
    ``test_batch``, pickled dicts with ``b"data"`` (a ``(n, 3072)`` uint8 array, laid out
    as above) and ``b"labels"`` (Krizhevsky 2009). The files may be in ``directory`` itself or
    in its ``cifar-10-batches-bin`` / ``cifar-10-batches-py`` subfolder; the binary version is
    used when both are present.

    The pickles are **not** loaded with ``pickle.load``, which could run any code that a
    malicious file holds: a restricted unpickler allows only the globals that rebuild a NumPy
    array, and refuses every other one. The binary version needs no unpickling at all, and is
    the one ``load_dataset("cifar10", download=True)`` fetches.

    Args:
      directory: the folder holding the batches.

    Returns:
      ``(x_train, y_train, x_test, y_test)``: float32 images ``(n, 32, 32, 3)`` in ``[0, 1]``
      and int32 labels ``(n,)``.

    Raises:
      ValueError: (a ``hsic._base.io.DataFileError``) naming the file, if one is missing or
        malformed (a size that is not a whole number of records, a label above 9, a pickle
        with anything but the expected content).

    Example:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> from hsic.bottleneck._data import read_cifar10
      >>> record = np.zeros(3073, np.uint8); record[0] = 3  # label 3, a black image
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
      ...         _ = pathlib.Path(tmp, name).write_bytes(record.tobytes())
      ...     x_train, y_train, x_test, y_test = read_cifar10(tmp)
      >>> x_train.shape, x_train.dtype, y_train.tolist(), x_test.shape
      ((5, 32, 32, 3), dtype('float32'), [3, 3, 3, 3, 3], (1, 32, 32, 3))
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFileError(directory, "no such directory.")
    return _read_cifar_dir(directory, name=None)


# --- finding and downloading ---------------------------------------------------------------------


def _missing(directory: Path, files: list[str], name: str | None) -> DataFileError:
    hint = (
        f"pass download=True to fetch {name} into {directory}, or pass the directory that holds "
        "the files"
        if name is not None
        else "check the directory, or pass a dataset name ('mnist', 'fashion-mnist', 'cifar10')"
    )
    return DataFileError(
        directory / files[0],
        f"missing ({len(files)} file(s) missing: {', '.join(files)}; looked in {directory}). "
        f"{hint}.",
    )


def default_root(name: str) -> Path:
    """Where a named dataset is cached: ``$HSIC_DATA/<name>``, else ``~/.cache/hsic/<name>``."""
    base = os.environ.get("HSIC_DATA")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "hsic") / name


def _fetch(name: str, filename: str, target: Path, verify: Any, *, timeout: float = 60.0) -> None:
    """Download ``filename`` from ``name``'s mirrors into ``target``, atomically.

    ``verify(path, data)`` raises on a bad download; the target is only written once it
    passed. Mirrors are tried in order; a checksum mismatch fails at once (it means the
    published file changed or the connection was tampered with).
    """
    errors = []
    for base in _MIRRORS[name]:
        url = base + filename
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = _read_response(response, filename)
        except (urllib.error.URLError, OSError) as err:
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        verify(target, data)
        target.parent.mkdir(parents=True, exist_ok=True)

        def write(f: IO[bytes], data: bytes = data) -> None:
            f.write(data)

        atomic_write(target, write)
        return
    raise OSError(
        f"could not download {filename} for {name}: " + "; ".join(errors) + ". Check the "
        "network, or download the files yourself and pass their directory."
    )


def _read_response(response: http.client.HTTPResponse, filename: str) -> bytes:
    """The whole body, with a progress bar on a terminal (none when stderr is not a tty)."""
    # Imported on download only, so that ``import hsic.bottleneck`` (and ``hsic --help``)
    # does not load tqdm.auto and the asyncio it brings.
    from tqdm.auto import tqdm

    total = int(response.headers.get("Content-Length") or 0) or None
    chunks = []
    with tqdm(total=total, unit="B", unit_scale=True, desc=filename, disable=None) as bar:
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            bar.update(len(chunk))
    return b"".join(chunks)


def _download_idx(name: str, root: Path) -> None:
    for stem in _IDX_STEMS.values():
        if _find_idx(root, stem) is not None:
            continue

        def verify(path: Path, data: bytes, stem: str = stem) -> None:
            if data[:2] != b"\x1f\x8b":
                raise DataFileError(path, "the download is not a gzip file.")
            _check_sha(path, data, _SHA256_GZ.get(name, {}).get(stem), "gzipped file")
            try:
                content = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as err:
                raise DataFileError(path, f"the download is a corrupt gzip ({err}).") from err
            _check_sha(path, content, _SHA256_RAW.get(name, {}).get(stem), "uncompressed content")

        _fetch(name, f"{stem}.gz", root / f"{stem}.gz", verify)


def _download_cifar10(root: Path) -> None:
    archive = root / _CIFAR_ARCHIVE

    def verify(path: Path, data: bytes) -> None:
        _check_sha(path, data, _CIFAR_ARCHIVE_SHA256, "archive")

    if not archive.is_file():
        _fetch("cifar10", _CIFAR_ARCHIVE, archive, verify)
    else:
        verify(archive, archive.read_bytes())
    # Extract only the six batches, by name, as regular files: never extractall, whose member
    # paths could point anywhere.
    out = root / "cifar-10-batches-bin"
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for stem in (*_CIFAR_TRAIN, _CIFAR_TEST):
                member = tar.getmember(f"cifar-10-batches-bin/{stem}.bin")
                if not member.isfile():
                    raise DataFileError(archive, f"member {member.name} is not a regular file.")
                source = cast(IO[bytes], tar.extractfile(member))  # a regular file: not None

                def write(f: IO[bytes], s: IO[bytes] = source) -> None:
                    f.write(s.read())

                atomic_write(out / f"{stem}.bin", write)
    except (tarfile.TarError, KeyError) as err:
        raise DataFileError(archive, f"not the CIFAR-10 binary archive ({err}).") from err
    archive.unlink()


def load_dataset(
    name_or_dir: str | os.PathLike, *, root: str | os.PathLike | None = None, download: bool = False
) -> Dataset:
    """Load MNIST, Fashion-MNIST or CIFAR-10, by name or from a directory.

    * ``"mnist"`` and ``"fashion-mnist"``: the four IDX files (``train-images-idx3-ubyte``,
      ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
      each gzipped (``.gz``) or not) in ``root``. Their published SHA-256 checksums are
      verified on every load: for MNIST those of the uncompressed files (so a gunzipped copy is
      checked too), for Fashion-MNIST those of the ``.gz`` files (an uncompressed copy is only
      checked for its format and size).
    * ``"cifar10"``: the CIFAR-10 batches (see `read_cifar10`) in ``root`` or its
      ``cifar-10-batches-bin`` / ``cifar-10-batches-py`` subfolder; each batch must hold
      10,000 images. The archive's checksum is verified when it is downloaded.
    * a directory: its IDX files or CIFAR-10 batches, detected from the file names, checked
      for format and size (no checksum is known for arbitrary files). The three names above
      always mean the datasets; write ``"./mnist"`` for a directory of that name.

    Images are scaled to float32 in ``[0, 1]`` and laid out ``(N, H, W, C)`` (C = 1 for the
    IDX datasets, 3 for CIFAR-10); labels are int32.

    With ``download=True``, missing files of a named dataset are fetched with ``urllib`` into
    ``root`` and verified before they are used (MNIST from the PyTorch or Google mirrors of
    LeCun's files, Fashion-MNIST from Zalando's bucket, CIFAR-10's binary version from the
    University of Toronto, whose six batches are extracted and the archive deleted). Downloads
    are opt-in: nothing is fetched otherwise.

    Args:
      name_or_dir: ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, or a directory.
      root: the directory holding (or to hold) the named dataset's files. Default:
        ``$HSIC_DATA/<name>`` if ``HSIC_DATA`` is set, else ``~/.cache/hsic/<name>``. Not used
        with a directory.
      download: fetch missing files of a named dataset.

    Returns:
      A `Dataset`.

    Raises:
      ValueError: if ``name_or_dir`` is neither a known name nor a directory; or (a
        ``hsic._base.io.DataFileError``) naming the file if one is missing (saying where it looked),
        fails its checksum, or is truncated or malformed.
      OSError: if a download fails on every mirror.

    Example:
      >>> import pathlib, struct, tempfile
      >>> import numpy as np
      >>> from hsic.bottleneck._data import load_dataset
      >>> def idx(path, array):  # the IDX layout: magic, sizes, then the uint8 values
      ...     header = struct.pack(f">I{array.ndim}I", 0x800 + array.ndim, *array.shape)
      ...     path.write_bytes(header + array.astype(np.uint8).tobytes())
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     for split, n in (("train", 6), ("t10k", 4)):
      ...         idx(pathlib.Path(tmp, f"{split}-images-idx3-ubyte"), np.full((n, 28, 28), 255))
      ...         idx(pathlib.Path(tmp, f"{split}-labels-idx1-ubyte"), np.arange(n))
      ...     data = load_dataset(tmp)
      >>> data.x_train.shape, float(data.x_train.max()), data.y_test.tolist(), data.num_classes
      ((6, 28, 28, 1), 1.0, [0, 1, 2, 3], 10)

    References:
      LeCun, Cortes and Burges, "The MNIST database of handwritten digits".
      Xiao, Rasul and Vollgraf (2017), "Fashion-MNIST: a novel image dataset for benchmarking
      machine learning algorithms", arXiv:1708.07747.
      Krizhevsky (2009), "Learning multiple layers of features from tiny images".
    """
    if not isinstance(download, bool):
        raise ValueError(f"`download` must be True or False; got {download!r}.")
    if isinstance(name_or_dir, str) and name_or_dir in DATASETS:
        name = name_or_dir
        directory = Path(root).expanduser() if root is not None else default_root(name)
        if name == "cifar10":
            if download and _find_cifar(directory) is None:
                _download_cifar10(directory)
            parts = _read_cifar_dir(directory, name=name, records=_CIFAR_BATCH)
        else:
            if download:
                _download_idx(name, directory)
            parts = _read_idx_dir(directory, name=name)
        return Dataset(*parts, num_classes=NUM_CLASSES, name=name)
    directory = Path(name_or_dir) if isinstance(name_or_dir, (str, os.PathLike)) else None
    if directory is None or not directory.is_dir():
        raise ValueError(
            "`name_or_dir` must be 'mnist', 'fashion-mnist', 'cifar10' or an existing "
            f"directory; got {name_or_dir!r}."
        )
    if root is not None or download:
        raise ValueError(
            "`root` and `download` apply to a dataset name ('mnist', 'fashion-mnist', "
            f"'cifar10'); got a directory, {os.fspath(name_or_dir)!r}."
        )
    if _find_idx(directory, _IDX_STEMS["x_train"]) is not None:
        parts = _read_idx_dir(directory, name=None)
    elif _find_cifar(directory) is not None:
        parts = _read_cifar_dir(directory, name=None)
    else:
        raise DataFileError(
            directory,
            "holds neither the four IDX files of MNIST or Fashion-MNIST "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) nor CIFAR-10 batches "
            "(data_batch_1.bin ... or data_batch_1 ..., directly or in cifar-10-batches-bin/ "
            "or cifar-10-batches-py/).",
        )
    return Dataset(*parts, num_classes=NUM_CLASSES, name=os.fspath(name_or_dir))
