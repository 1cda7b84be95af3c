"""Dataset readers of the HSIC-bottleneck trainer: IDX, CIFAR-10 (binary and python), download.

All data are synthetic and written here, byte by byte, from the published file layouts (the
writers below are independent of the readers under test). Nothing is downloaded: the download
path is exercised with ``file://`` mirrors and patched checksum tables.
"""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.request

import numpy as np
import pytest

from hsic._base.io import DataFileError
from hsic.bottleneck import _data
from hsic.bottleneck._data import Dataset, load_dataset, read_cifar10, read_idx

# --- independent writers of the file formats ------------------------------------------------

IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX layout: 0x0000, type code, ndim, big-endian uint32 sizes, big-endian data."""
    code = IDX_CODES[array.dtype.str[1:]]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, *, gz: bool = False):
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def make_idx_dir(directory, *, n_train=12, n_test=5, gz=False, seed=0):
    """Four MNIST-style files of random images and labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in STEMS.items():
        write(directory / (stem + (".gz" if gz else "")), idx_bytes(arrays[key]), gz=gz)
    return arrays


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()


def cifar_bin_bytes(pixels, labels) -> bytes:
    """Krizhevsky's binary records: one label byte, then the 3072 pixel bytes (R, G, B planes)."""
    return b"".join(
        bytes([label]) + row.tobytes() for row, label in zip(pixels, labels, strict=True)
    )


def make_cifar_dir(directory, *, n=3, version="bin", protocol=2):
    """Six synthetic batches of n records; returns [(pixels, labels)] per batch."""
    directory.mkdir(parents=True, exist_ok=True)
    batches = []
    for i, stem in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        pixels, labels = cifar_batch(n, seed=i)
        batches.append((pixels, labels))
        if version == "bin":
            (directory / f"{stem}.bin").write_bytes(cifar_bin_bytes(pixels, labels))
        else:
            content = {b"batch_label": b"synthetic", b"labels": labels, b"data": pixels}
            (directory / stem).write_bytes(pickle.dumps(content, protocol=protocol))
    return batches


def cifar_image(row: np.ndarray) -> np.ndarray:
    """Pixel (i, j, c) of a record is byte c*1024 + i*32 + j: written out with loops."""
    image = np.empty((32, 32, 3), np.float32)
    for i in range(32):
        for j in range(32):
            for c in range(3):
                image[i, j, c] = row[c * 1024 + i * 32 + j] / 255.0
    return image


# --- read_idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "dtype, shape",
    [("u1", (7, 28, 28)), ("u1", (9,)), ("i1", (3, 4)), ("i2", (2, 3)), ("i4", (5,)),
     ("f4", (2, 2, 2)), ("f8", (3,))],
)  # fmt: skip
def test_read_idx_round_trip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(1)
    array = (rng.normal(size=shape) * 100).astype(dtype)
    path = write(tmp_path / "a-idx", idx_bytes(array), gz=gz)  # gzip found by content, not name
    got = read_idx(path)
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable


def test_read_idx_hand_made_labels(tmp_path):
    path = write(tmp_path / "l", b"\x00\x00\x08\x01" + b"\x00\x00\x00\x04" + bytes([3, 1, 4, 1]))
    assert read_idx(path).tolist() == [3, 1, 4, 1]


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x12\x34\x08\x01\x00\x00\x00\x01\x05", r"bad magic number 0x12340801"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", r"bad magic number 0x00000a01"),
        (b"\x00\x00\x08\x00", r"bad magic number 0x00000800"),
        (b"\x00\x00", r"only 2 bytes; too short for an IDX header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", r"truncated header: 8 bytes, the 3 dimensions"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", r"truncated: 10 bytes.*needs exactly 11"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", r"trailing bytes: 10 bytes.*exactly 9"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path, content, match):
    for gz in (False, True):
        path = write(tmp_path / f"bad{gz}", content, gz=gz)
        with pytest.raises(ValueError, match=match) as info:
            read_idx(path)
        assert str(info.value).startswith(str(path))


def test_read_idx_truncated_gzip_and_missing_file(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8)), mtime=0)
    path = write(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"cut.gz: corrupt or truncated gzip"):
        read_idx(path)
    with pytest.raises(ValueError, match=r"nope: no such file"):
        read_idx(tmp_path / "nope")


# --- load_dataset on a directory of IDX files -----------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_directory(tmp_path, gz):
    arrays = make_idx_dir(tmp_path / "d", gz=gz)
    data = load_dataset(str(tmp_path / "d"))
    assert isinstance(data, Dataset)
    assert data.name == str(tmp_path / "d") and data.num_classes == 10
    for key in ("x_train", "x_test"):
        got = getattr(data, key)
        assert got.dtype == np.float32 and got.shape == (*arrays[key].shape, 1)
        np.testing.assert_array_equal(got[..., 0], arrays[key].astype(np.float32) / 255)
    for key in ("y_train", "y_test"):
        assert getattr(data, key).dtype == np.int32
        np.testing.assert_array_equal(getattr(data, key), arrays[key])


def test_load_idx_directory_mixed_and_dotted_names(tmp_path):
    arrays = make_idx_dir(tmp_path, gz=False)
    (tmp_path / STEMS["x_train"]).rename(tmp_path / "train-images.idx3-ubyte")
    path = tmp_path / STEMS["y_test"]
    write(tmp_path / (STEMS["y_test"] + ".gz"), path.read_bytes(), gz=True)
    path.unlink()
    data = load_dataset(tmp_path)
    np.testing.assert_array_equal(data.x_train[..., 0] * 255, arrays["x_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])


def test_load_idx_directory_inconsistent_files(tmp_path):
    make_idx_dir(tmp_path)
    labels = tmp_path / STEMS["y_train"]
    write(labels, idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(
        DataFileError, match=r"holds 11 labels but train-images-idx3-ubyte holds 12"
    ):
        load_dataset(tmp_path)
    write(labels, idx_bytes(np.full(12, 10, np.uint8)))
    with pytest.raises(DataFileError, match=r"label 10 is out of range; expected 0 .. 9"):
        load_dataset(tmp_path)
    write(tmp_path / STEMS["x_train"], idx_bytes(np.zeros((12, 784), np.uint8)))
    with pytest.raises(DataFileError, match=r"expected uint8 images of shape \(n, rows, cols\)"):
        load_dataset(tmp_path)


def test_load_missing_files(tmp_path):
    make_idx_dir(tmp_path / "d")
    (tmp_path / "d" / STEMS["y_test"]).unlink()
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte\[.gz\]: missing") as info:
        load_dataset(tmp_path / "d")
    assert f"looked in {tmp_path / 'd'}" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match=r"holds neither the four IDX files"):
        load_dataset(tmp_path / "empty")
    root = tmp_path / "cache"
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\[.gz\]: missing") as info:
        load_dataset("fashion-mnist", root=root)
    message = str(info.value)
    assert "4 file(s) missing" in message and f"looked in {root}" in message
    assert "pass download=True" in message


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HSIC_DATA", str(tmp_path))
    assert _data.default_root("mnist") == tmp_path / "mnist"
    with pytest.raises(DataFileError, match="looked in " + str(tmp_path / "cifar10")):
        load_dataset("cifar10")
    monkeypatch.delenv("HSIC_DATA")
    assert _data.default_root("mnist") == _data.Path.home() / ".cache" / "hsic" / "mnist"


def test_load_dataset_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"`name_or_dir` must be 'mnist', .* got 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match=r"`name_or_dir` must be .* got 3"):
        load_dataset(3)
    with pytest.raises(ValueError, match=r"`download` must be True or False; got 'yes'"):
        load_dataset("mnist", download="yes")
    with pytest.raises(ValueError, match=r"`root` and `download` apply to a dataset name"):
        load_dataset(tmp_path, root=tmp_path)


# --- checksums --------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patch_known(monkeypatch, name, arrays, *, gz_table=False):
    """Make the synthetic files 'the published ones' for ``name`` (tables and sizes)."""
    raw = {STEMS[k]: sha256(idx_bytes(a)) for k, a in arrays.items()}
    gz = {STEMS[k]: sha256(gzip.compress(idx_bytes(a), mtime=0)) for k, a in arrays.items()}
    monkeypatch.setitem(_data._SHA256_RAW, name, {} if gz_table else raw)
    monkeypatch.setitem(_data._SHA256_GZ, name, gz if gz_table else {})
    monkeypatch.setattr(
        _data, "_COUNTS", {"train": len(arrays["y_train"]), "test": len(arrays["y_test"])}
    )


def test_named_dataset_checksum_mismatch(tmp_path, monkeypatch):
    make_idx_dir(tmp_path, gz=True)  # synthetic files are not MNIST: the real table rejects them
    with pytest.raises(DataFileError, match=r"checksum mismatch: the SHA-256 of the uncompressed"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz: checksum mismatch.*gzip"):
        load_dataset("fashion-mnist", root=tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_named_dataset_verified(tmp_path, monkeypatch, gz):
    arrays = make_idx_dir(tmp_path, gz=gz)
    patch_known(monkeypatch, "mnist", arrays)
    data = load_dataset("mnist", root=tmp_path)
    assert data.name == "mnist"
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    # one flipped pixel is caught, gzipped or not
    arrays["x_test"][0, 0, 0] ^= 1
    path = tmp_path / (STEMS["x_test"] + (".gz" if gz else ""))
    write(path, idx_bytes(arrays["x_test"]), gz=gz)
    with pytest.raises(DataFileError, match=rf"{path.name}: checksum mismatch"):
        load_dataset("mnist", root=tmp_path)


def test_named_dataset_checks_sizes(tmp_path, monkeypatch):
    arrays = make_idx_dir(tmp_path)
    patch_known(monkeypatch, "fashion-mnist", arrays, gz_table=True)  # plain files: no checksum
    monkeypatch.setattr(_data, "_COUNTS", {"train": 60000, "test": 10000})
    with pytest.raises(DataFileError, match=r"expected 60000 images of \(28, 28\) for fashion"):
        load_dataset("fashion-mnist", root=tmp_path)


# --- download (file:// mirrors, never the network) --------------------------------------------


def test_download_idx(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    arrays = make_idx_dir(source, gz=True, seed=3)
    patch_known(monkeypatch, "fashion-mnist", arrays, gz_table=True)
    monkeypatch.setitem(
        _data._MIRRORS, "fashion-mnist", ((tmp_path / "down").as_uri() + "/", source.as_uri() + "/")
    )  # the first mirror is down: the second is used
    root = tmp_path / "cache" / "fashion"
    data = load_dataset("fashion-mnist", root=root, download=True)
    assert sorted(p.name for p in root.iterdir()) == sorted(s + ".gz" for s in STEMS.values())
    np.testing.assert_array_equal(data.x_test[..., 0] * 255, arrays["x_test"])
    # the cache is used next time: no download needed, and none attempted
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    again = load_dataset("fashion-mnist", root=root, download=True)
    np.testing.assert_array_equal(again.y_train, data.y_train)


def _no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_download_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(DataFileError, match=r"missing"):
        load_dataset("mnist", root=tmp_path)


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    arrays = make_idx_dir(source, gz=True)
    patch_known(monkeypatch, "mnist", arrays)
    monkeypatch.setitem(_data._SHA256_RAW["mnist"], STEMS["y_test"], "0" * 64)
    monkeypatch.setitem(_data._MIRRORS, "mnist", (source.as_uri() + "/",))
    root = tmp_path / "cache"
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        load_dataset("mnist", root=root, download=True)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        s + ".gz" for k, s in STEMS.items() if k != "y_test"
    )  # the good files are kept, the bad one never written, no temporary file left


def test_download_fails_on_every_mirror(tmp_path, monkeypatch):
    monkeypatch.setitem(_data._MIRRORS, "mnist", ((tmp_path / "a").as_uri() + "/",))
    with pytest.raises(OSError, match=r"could not download train-images-idx3-ubyte.gz for mnist"):
        load_dataset("mnist", root=tmp_path / "cache", download=True)


def cifar_archive(path, members: dict):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_download_cifar10(tmp_path, monkeypatch):
    batches = make_cifar_dir(tmp_path / "made", n=2)
    members = {
        f"cifar-10-batches-bin/{p.name}": p.read_bytes()
        for p in sorted((tmp_path / "made").iterdir())
    }
    members["cifar-10-batches-bin/readme.html"] = b"<html>"  # not extracted
    (tmp_path / "mirror").mkdir()
    archive = cifar_archive(tmp_path / "mirror" / "cifar-10-binary.tar.gz", members)
    monkeypatch.setattr(_data, "_CIFAR_ARCHIVE_SHA256", sha256(archive))
    monkeypatch.setattr(_data, "_CIFAR_BATCH", 2)
    monkeypatch.setitem(_data._MIRRORS, "cifar10", ((tmp_path / "mirror").as_uri() + "/",))
    root = tmp_path / "cache"
    data = load_dataset("cifar10", root=root, download=True)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin"]  # archive removed
    assert len(list((root / "cifar-10-batches-bin").iterdir())) == 6
    assert data.x_train.shape == (10, 32, 32, 3) and data.name == "cifar10"
    np.testing.assert_array_equal(data.y_test, batches[-1][1])
    monkeypatch.setattr(_data, "_CIFAR_BATCH", 10000)
    with pytest.raises(DataFileError, match=r"data_batch_1.bin: 6146 bytes; a CIFAR-10 batch"):
        load_dataset("cifar10", root=root)


def test_download_cifar10_bad_archives(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    monkeypatch.setitem(_data._MIRRORS, "cifar10", ((tmp_path / "mirror").as_uri() + "/",))
    link = {"cifar-10-batches-bin/data_batch_1.bin": None}
    archive = cifar_archive(tmp_path / "mirror" / "cifar-10-binary.tar.gz", link)
    with pytest.raises(DataFileError, match=r"cifar-10-binary.tar.gz: checksum mismatch"):
        load_dataset("cifar10", root=tmp_path / "c1", download=True)
    assert not (tmp_path / "c1" / "cifar-10-binary.tar.gz").exists()
    monkeypatch.setattr(_data, "_CIFAR_ARCHIVE_SHA256", sha256(archive))
    with pytest.raises(DataFileError, match=r"member cifar-10-batches-bin/data_batch_1.bin is not"):
        load_dataset("cifar10", root=tmp_path / "c2", download=True)
    assert not (tmp_path / "etc").exists()


# --- CIFAR-10 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sub", ["", "cifar-10-batches-bin"])
def test_read_cifar10_binary(tmp_path, sub):
    batches = make_cifar_dir(tmp_path / sub, n=3)
    x_train, y_train, x_test, y_test = read_cifar10(tmp_path)
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.float32
    assert x_test.shape == (3, 32, 32, 3) and y_train.dtype == np.int32
    assert x_train.flags.c_contiguous and x_test.flags.c_contiguous
    assert y_train.tolist() == sum((labels for _, labels in batches[:5]), [])
    assert y_test.tolist() == batches[5][1]
    np.testing.assert_array_equal(x_train[4], cifar_image(batches[1][0][1]))
    np.testing.assert_array_equal(x_test[2], cifar_image(batches[5][0][2]))


@pytest.mark.parametrize("protocol", [2, 5])
def test_read_cifar10_python_version_matches_binary(tmp_path, protocol):
    make_cifar_dir(tmp_path / "bin", n=2)
    make_cifar_dir(tmp_path / "py" / "cifar-10-batches-py", n=2, version="py", protocol=protocol)
    for got, want in zip(
        read_cifar10(tmp_path / "py"), read_cifar10(tmp_path / "bin"), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    assert load_dataset(tmp_path / "py").x_train.shape == (10, 32, 32, 3)


def _py2_str(data: bytes) -> bytes:
    return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING: a Python 2 str


def py2_batch_pickle(pixels: np.ndarray, labels: list) -> bytes:
    """A batch as Python 2's cPickle wrote the real files, opcode by opcode (protocol 2).

    numpy.core.multiarray._reconstruct(ndarray, (0,), 'b'), then BUILD with (1, shape, dtype,
    False, raw bytes); the dtype is dtype('u1', 0, 1) then BUILD with (3, '|', None, None,
    None, -1, -1, 0); every str is a Python 2 byte string (SHORT_BINSTRING / BINSTRING).
    """
    n = len(labels)
    dtype = (
        b"cnumpy\ndtype\n"
        + _py2_str(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + _py2_str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + _py2_str(b"b")
        + b"\x87R(K\x01J"
        + struct.pack("<i", n)
        + b"J"
        + struct.pack("<i", 3072)
        + b"\x86"
        + dtype
        + b"\x89T"
        + struct.pack("<i", pixels.size)
        + pixels.tobytes()
        + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + _py2_str(b"batch_label") + _py2_str(b"training batch")
            + _py2_str(b"data") + array + _py2_str(b"labels") + label_list + b"u.")  # fmt: skip


def test_read_cifar10_python2_pickles(tmp_path):
    """The real python-version batches: Python 2 byte strings and numpy.core names."""
    batches = make_cifar_dir(tmp_path / "bin", n=2)
    (tmp_path / "py").mkdir()
    for (pixels, labels), stem in zip(
        batches, [f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"], strict=True
    ):
        (tmp_path / "py" / stem).write_bytes(py2_batch_pickle(pixels, labels))
    for got, want in zip(
        read_cifar10(tmp_path / "py"), read_cifar10(tmp_path / "bin"), strict=True
    ):
        np.testing.assert_array_equal(got, want)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_read_cifar10_never_runs_pickled_code(tmp_path):
    make_cifar_dir(tmp_path, n=1, version="py")
    target = tmp_path / "pwned"
    evil = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Exploit(target)]}
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataFileError, match=r"data_batch_3: not a CIFAR-10 python batch.*posix"):
        read_cifar10(tmp_path)
    assert not target.exists()
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": "x"}, protocol=2))
    with pytest.raises(DataFileError, match=r"expected 'data' to be a uint8 array"):
        read_cifar10(tmp_path)


def test_read_cifar10_bad_files(tmp_path):
    make_cifar_dir(tmp_path, n=2)
    path = tmp_path / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataFileError, match=r"data_batch_2.bin: 6145 bytes is not a whole number"):
        read_cifar10(tmp_path)
    pixels, _ = cifar_batch(1, 0)
    path.write_bytes(cifar_bin_bytes(pixels, [10]))
    with pytest.raises(DataFileError, match=r"data_batch_2.bin: label 10 is out of range"):
        read_cifar10(tmp_path)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DataFileError, match=r"test_batch.bin: missing"):
        read_cifar10(tmp_path)
    with pytest.raises(DataFileError, match=r"no such directory"):
        read_cifar10(tmp_path / "nope")


# --- the documentation page of this layer -----------------------------------------------------


def test_docs_page_examples_run(tmp_path, monkeypatch):
    """docs/bottleneck-data.md's ```python blocks run (the same way tests/test_docs.py runs)."""
    from test_docs import ROOT, python_blocks

    monkeypatch.chdir(tmp_path)
    page = "docs/bottleneck-data.md"
    blocks = python_blocks(page)
    assert len(blocks) == 3
    namespace = {"__name__": "__docs__"}
    for line, code in blocks:
        exec(compile("\n" * (line - 1) + code, str(ROOT / page), "exec"), namespace)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "accuracy.png",
        "hsic_plane.png",
        "metrics.jsonl",
    ]
