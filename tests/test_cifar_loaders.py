"""CIFAR test-set readers: every layout written for real in tmp_path, detection, errors, safety."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.loaders import cifar
from mmharness.loaders.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CifarTestSet,
    UnsafePickleError,
    annotation_names,
    detect_cifar_source,
    rank_within_class,
    read_binary,
    read_hf,
    read_png,
    read_torchvision,
    restricted_pickle_load,
)
from mmharness.requests import ImageArray, MediaDecodeError
from mmharness.task import DataNotFoundError, TaskError

N = 30


# --------------------------------------------------------------------------- fake data writers


def fake_data(dataset: str, n: int = N, seed: int = 0):
    """Labels (with repeats, every class id valid) and (n, 3072) uint8 rows in CIFAR byte order."""
    rng = np.random.default_rng(seed)
    c = 10 if dataset == "cifar10" else 100
    labels = rng.integers(0, c, n)
    labels[:4] = [3, 8, 3, 0]
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels.astype(np.int64), data


def row_to_hwc(row: np.ndarray) -> np.ndarray:
    return row.reshape(3, 32, 32).transpose(1, 2, 0)


def py2_pickle(obj) -> bytes:
    """Protocol-2 bytes as Python 2 + numpy 1 wrote the official CIFAR batches (str = byte string)."""
    out = bytearray(b"\x80\x02")

    def string(b: bytes):
        out.extend(b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b)

    def integer(v: int):
        if 0 <= v < 256:
            out.extend(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            out.extend(b"M" + struct.pack("<H", v))
        else:
            out.extend(b"J" + struct.pack("<i", v))

    def write(o):
        if isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                write(k)
                write(v)
            out.extend(b"u")
        elif isinstance(o, list):
            out.extend(b"](")
            for v in o:
                write(v)
            out.extend(b"e")
        elif isinstance(o, str):
            string(o.encode("latin1"))
        elif isinstance(o, (int, np.integer)):
            integer(int(o))
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            integer(0)
            out.extend(b"\x85")
            string(b"b")
            out.extend(b"\x87R(")
            integer(1)
            out.extend(b"(")
            for d in o.shape:
                integer(d)
            out.extend(b"tcnumpy\ndtype\n")
            string(b"u1")
            integer(0)
            integer(1)
            out.extend(b"\x87R(")
            integer(3)
            string(b"|")
            out.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff")
            integer(0)
            out.extend(b"tb\x89")
            string(o.tobytes())
            out.extend(b"tb")
        else:
            raise TypeError(type(o))

    write(obj)
    out.extend(b".")
    return bytes(out)


def write_torchvision(root: Path, dataset: str, labels, data, py2: bool = True) -> Path:
    dump = py2_pickle if py2 else (lambda o: pickle.dumps(o, protocol=4))
    if dataset == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        batch = {"batch_label": "testing batch 1 of 1", "labels": [int(x) for x in labels], "data": data,
                 "filenames": [f"img_{i}.png" for i in range(len(labels))]}
        meta = {"num_cases_per_batch": len(labels), "label_names": list(CIFAR10_CLASSES), "num_vis": 3072}
        (folder / "test_batch").write_bytes(dump(batch))
        (folder / "batches.meta").write_bytes(dump(meta))
        return folder / "test_batch"
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    batch = {"filenames": [f"img_{i}.png" for i in range(len(labels))], "batch_label": "testing batch 1 of 1",
             "fine_labels": [int(x) for x in labels], "coarse_labels": [int(x) % 20 for x in labels],
             "data": data}
    meta = {"fine_label_names": list(CIFAR100_CLASSES), "coarse_label_names": [f"c{i}" for i in range(20)]}
    (folder / "test").write_bytes(dump(batch))
    (folder / "meta").write_bytes(dump(meta))
    return folder / "test"


def write_binary(root: Path, dataset: str, labels, data) -> Path:
    if dataset == "cifar10":
        folder = root / "cifar-10-batches-bin"
        head = labels.astype(np.uint8)[:, None]
        name, names_file, names = "test_batch.bin", "batches.meta.txt", CIFAR10_CLASSES
    else:
        folder = root / "cifar-100-binary"
        head = np.stack([labels % 20, labels], axis=1).astype(np.uint8)
        name, names_file, names = "test.bin", "fine_label_names.txt", CIFAR100_CLASSES
    folder.mkdir(parents=True)
    (folder / name).write_bytes(np.concatenate([head, data], axis=1).tobytes())
    (folder / names_file).write_text("\n".join(names) + "\n\n")
    return folder / name


def write_png_tree(root: Path, dataset: str, labels, data) -> list[Path]:
    classes = CIFAR10_CLASSES if dataset == "cifar10" else CIFAR100_CLASSES
    paths = []
    for lab, name, row in zip(labels, annotation_names(labels), data):
        p = root / "test" / classes[lab] / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(row_to_hwc(row)).save(p)
        paths.append(p)
    return paths


def hf_dataset(dataset: str, labels, data):
    import datasets

    imgs = [Image.fromarray(row_to_hwc(r)) for r in data]
    if dataset == "cifar10":
        feats = datasets.Features({"img": datasets.Image(),
                                   "label": datasets.ClassLabel(names=list(CIFAR10_CLASSES))})
        return datasets.Dataset.from_dict({"img": imgs, "label": labels.tolist()}, features=feats)
    feats = datasets.Features({"img": datasets.Image(),
                               "fine_label": datasets.ClassLabel(names=list(CIFAR100_CLASSES)),
                               "coarse_label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"img": imgs, "fine_label": labels.tolist(),
                                       "coarse_label": (labels % 20).tolist()}, features=feats)


def assert_matches(ts: CifarTestSet, labels, data, order=None):
    order = np.arange(len(labels)) if order is None else order
    assert len(ts) == len(labels)
    assert ts.labels.dtype == np.int64
    assert np.array_equal(ts.labels, labels[order])
    assert ts.image_names == [annotation_names(labels)[i] for i in order]
    for j in (0, 1, len(order) - 1):
        im = ts.image(j)
        assert im.mode == "RGB" and im.size == (32, 32)
        assert np.array_equal(np.asarray(im), row_to_hwc(data[order[j]]))
        assert ImageArray(ts, j).load().size == (32, 32)
    assert isinstance(ts.describe(0), str) and ts.describe(0)
    assert len(ts.fingerprint) >= 16


# --------------------------------------------------------------------------- rank mapping


def test_rank_within_class_spec_example():
    assert rank_within_class(np.array([3, 8, 3, 0])).tolist() == [1, 1, 2, 1]
    assert annotation_names(np.array([3, 8, 3, 0])) == ["0001.png", "0001.png", "0002.png", "0001.png"]
    labels = np.random.default_rng(0).integers(0, 7, 200)
    ranks = rank_within_class(labels)
    for i in range(200):  # the definition, sample by sample
        assert ranks[i] == int((labels[: i + 1] == labels[i]).sum())


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("py2", [True, False])
def test_torchvision_layout(tmp_path, dataset, py2):
    labels, data = fake_data(dataset)
    write_torchvision(tmp_path, dataset, labels, data, py2=py2)
    ts = read_torchvision(tmp_path, dataset)
    assert ts.kind == "torchvision" and ts.source.startswith("torchvision:")
    assert ts.classes == list(CIFAR10_CLASSES if dataset == "cifar10" else CIFAR100_CLASSES)
    assert_matches(ts, labels, data)
    assert detect_cifar_source(tmp_path, dataset, allow_hub=False).kind == "torchvision"


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_binary_layout(tmp_path, dataset):
    labels, data = fake_data(dataset)
    write_binary(tmp_path, dataset, labels, data)
    ts = read_binary(tmp_path, dataset)
    assert ts.kind == "binary"
    assert_matches(ts, labels, data)
    assert detect_cifar_source(tmp_path, dataset, allow_hub=False).kind == "binary"


def test_binary_bad_size_is_reported(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "test_batch.bin").write_bytes(b"\x00" * 3075)
    with pytest.raises(TaskError, match="3073-byte record"):
        read_binary(tmp_path, "cifar10")


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_png_layout(tmp_path, dataset):
    labels, data = fake_data(dataset)
    write_png_tree(tmp_path, dataset, labels, data)
    ts = read_png(tmp_path, dataset)
    order = np.lexsort((rank_within_class(labels), labels))  # by class index, then name
    assert ts.kind == "png"
    assert_matches(ts, labels, data, order)
    assert ts.file_path(0).endswith(ts.image_names[0])
    assert ts.describe(0) == ts.file_path(0)
    assert detect_cifar_source(tmp_path, dataset, allow_hub=False).kind == "png"
    # also found one level down, under <root>/<dataset>/test
    nested = tmp_path / "nested"
    write_png_tree(nested / dataset, dataset, labels, data)
    assert read_png(nested, dataset).location == str(nested / dataset / "test")


def test_png_tree_of_the_other_dataset_is_not_taken(tmp_path):
    labels, data = fake_data("cifar10", n=8)
    write_png_tree(tmp_path, "cifar10", labels, data)
    with pytest.raises(DataNotFoundError):
        detect_cifar_source(tmp_path, "cifar100", allow_hub=False)
    # nor parquet files of CIFAR-100 one level below the data root when CIFAR-10 is asked for
    other = tmp_path / "other"
    (other / "cifar100" / "cifar100").mkdir(parents=True)
    labels100 = np.arange(5) * 20
    hf_dataset("cifar100", labels100, fake_data("cifar100", n=5)[1]).to_parquet(
        str(other / "cifar100" / "cifar100" / "test-00000-of-00001.parquet"))
    with pytest.raises(DataNotFoundError):
        detect_cifar_source(other, "cifar10", allow_hub=False)
    assert detect_cifar_source(other, "cifar100", allow_hub=False).kind == "hf"


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_hf_save_to_disk_layout(tmp_path, dataset):
    import datasets

    labels, data = fake_data(dataset)
    datasets.DatasetDict({"test": hf_dataset(dataset, labels, data)}).save_to_disk(str(tmp_path / dataset))
    ts = read_hf(tmp_path, dataset)
    assert ts.kind == "hf" and ts.location.startswith("disk:")
    assert_matches(ts, labels, data)
    assert detect_cifar_source(tmp_path, dataset, allow_hub=False).kind == "hf"


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_hf_parquet_layout(tmp_path, dataset):
    labels, data = fake_data(dataset)
    # the hub repository layouts, downloaded to <root>/<dataset> or <root>/uoft-cs/<dataset>
    if dataset == "cifar10":
        out = tmp_path / "cifar10" / "plain_text" / "test-00000-of-00001.parquet"
    else:
        out = tmp_path / "uoft-cs" / "cifar100" / "cifar100" / "test-00000-of-00001.parquet"
    out.parent.mkdir(parents=True)
    hf_dataset(dataset, labels, data).to_parquet(str(out))
    ts = read_hf(tmp_path, dataset)
    assert ts.location.startswith("parquet:")
    assert_matches(ts, labels, data)


def test_hf_parquet_without_hf_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels, data = fake_data("cifar10")
    pngs = []
    for r in data:
        buf = io.BytesIO()
        Image.fromarray(row_to_hwc(r)).save(buf, format="PNG")
        pngs.append({"bytes": buf.getvalue(), "path": None})
    table = pa.table({"img": pngs, "label": pa.array(labels, pa.int64())})
    pq.write_table(table, tmp_path / "test-00000-of-00001.parquet")
    ts = read_hf(tmp_path, "cifar10")
    assert_matches(ts, labels, data)


def test_detection_order_and_forced_source(tmp_path):
    labels, data = fake_data("cifar10")
    write_torchvision(tmp_path, "cifar10", labels, data)
    write_binary(tmp_path, "cifar10", labels, data)
    write_png_tree(tmp_path, "cifar10", labels, data)
    assert detect_cifar_source(tmp_path, "cifar10", allow_hub=False).kind == "torchvision"
    assert detect_cifar_source(tmp_path, "cifar10", source="binary").kind == "binary"
    assert detect_cifar_source(tmp_path, "cifar10", source="png").kind == "png"
    with pytest.raises(TaskError, match="unknown CIFAR source"):
        detect_cifar_source(tmp_path, "cifar10", source="lmdb")
    with pytest.raises(DataNotFoundError, match="test_batch.bin"):
        detect_cifar_source(tmp_path / "empty", "cifar10", source="binary")


# --------------------------------------------------------------------------- errors


def test_missing_data_dir_names_every_path_and_the_sources(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(DataNotFoundError) as e:
        detect_cifar_source(missing, "cifar10", allow_hub=False)
    msg = str(e.value)
    assert str(missing) in msg and "does not exist" in msg
    for part in ("cifar-10-batches-py/test_batch", "cifar-10-batches-bin/test_batch.bin",
                 "test/<class_name>/<NNNN>.png", "parquet",
                 "https://www.cs.toronto.edu/~kriz/cifar.html", "uoft-cs/cifar10"):
        assert part in msg


def test_missing_data_with_hub_offline_mentions_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as e:
        detect_cifar_source(tmp_path, "cifar100")
    msg = str(e.value)
    assert "cifar-100-python/test" in msg and "uoft-cs/cifar100" in msg and "could not be loaded" in msg


def test_corrupt_png_raises_media_decode_error_naming_the_file(tmp_path):
    labels, data = fake_data("cifar10", n=6)
    paths = write_png_tree(tmp_path, "cifar10", labels, data)
    paths[2].write_bytes(b"this is not a png")
    ts = read_png(tmp_path, "cifar10")
    j = [ts.file_path(i) for i in range(len(ts))].index(str(paths[2]))
    with pytest.raises(MediaDecodeError, match=str(paths[2])):
        ts.image(j)
    with pytest.raises(MediaDecodeError, match=str(paths[2])):
        ImageArray(ts, j).load()


def test_malformed_torchvision_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"labels": [1, 2]}, protocol=4))
    with pytest.raises(TaskError, match="'data'"):
        read_torchvision(tmp_path, "cifar10")
    (folder / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(TaskError, match="cannot read CIFAR pickle"):
        read_torchvision(tmp_path, "cifar10")


# --------------------------------------------------------------------------- restricted unpickling


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_restricted_unpickler_refuses_code(tmp_path, protocol):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    bad = folder / "test_batch"
    bad.write_bytes(pickle.dumps({"data": _Evil(marker), "labels": [0]}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle (posix|nt|os).system"):
        restricted_pickle_load(bad)
    with pytest.raises(UnsafePickleError):
        read_torchvision(tmp_path, "cifar10")
    assert not marker.exists()
    bad.write_bytes(pickle.dumps([_EvalEvil()], protocol=protocol))
    with pytest.raises(UnsafePickleError, match="(__builtin__|builtins).eval"):
        restricted_pickle_load(bad)
    # object arrays could smuggle arbitrary objects: refused as well
    bad.write_bytes(pickle.dumps(np.array([1, "x"], dtype=object), protocol=protocol))
    with pytest.raises(UnsafePickleError):
        restricted_pickle_load(bad)


def test_restricted_unpickler_reads_numpy_arrays(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for name, payload in (("py2", py2_pickle({"data": arr, "labels": [1, 2, 3]})),
                          ("py3", pickle.dumps({"data": arr, "labels": [1, 2, 3]}, protocol=4))):
        p = tmp_path / name
        p.write_bytes(payload)
        obj = restricted_pickle_load(p)
        assert obj["labels"] == [1, 2, 3] and np.array_equal(obj["data"], arr)


# --------------------------------------------------------------------------- pickling the test set


def test_testset_pickles_light_and_reloads(tmp_path):
    labels, data = fake_data("cifar10", n=200)
    test_file = write_torchvision(tmp_path, "cifar10", labels, data)
    ts = read_torchvision(tmp_path, "cifar10")
    blob = pickle.dumps(ts)
    assert len(blob) < 1000
    cifar._STORE_CACHE.clear()  # as in a fresh worker process
    back = pickle.loads(blob)
    assert np.array_equal(np.asarray(back.image(5)), row_to_hwc(data[5]))
    assert np.array_equal(back.labels, labels)
    ref = pickle.loads(pickle.dumps(ImageArray(ts, 7)))
    assert np.array_equal(np.asarray(ref.load()), row_to_hwc(data[7]))
    # data changed on disk after loading: refused instead of silently mixing versions
    cifar._STORE_CACHE.clear()
    labels2 = labels.copy()
    labels2[0] = (labels2[0] + 1) % 10
    test_file.write_bytes(py2_pickle({"labels": [int(x) for x in labels2], "data": data}))
    with pytest.raises(TaskError, match="changed since it was loaded"):
        pickle.loads(blob).image(0)


# --------------------------------------------------------------------------- reuse of what was read


@pytest.mark.parametrize("layout", ["torchvision", "binary"])
def test_rereading_unchanged_files_reuses_the_store_and_a_changed_file_is_read_again(tmp_path, layout, monkeypatch):
    labels, data = fake_data("cifar10", n=40)
    write = write_torchvision if layout == "torchvision" else write_binary
    read = read_torchvision if layout == "torchvision" else read_binary
    test_file = write(tmp_path, "cifar10", labels, data)
    first = read(tmp_path, "cifar10")
    assert first.ranks.flags.writeable is False  # shared by every test set of this data
    with monkeypatch.context() as m:  # unchanged files: nothing is read again
        m.setattr(cifar.np, "fromfile", lambda *a, **k: pytest.fail("binary file read again"))
        m.setattr(cifar, "restricted_pickle_load", lambda *a, **k: pytest.fail("pickle read again"))
        again = read(tmp_path, "cifar10")
        assert detect_cifar_source(tmp_path, "cifar10", allow_hub=False)._store is first._store
    assert again._store is first._store and again.fingerprint == first.fingerprint
    assert again.image_names == first.image_names and again.image_names is not first.image_names
    assert_matches(again, labels, data)
    # new contents (new stat): read again, new fingerprint
    labels2 = np.roll(labels, 1)
    data2 = data[::-1].copy()
    test_file.unlink()
    if layout == "torchvision":
        test_file.write_bytes(py2_pickle({"labels": [int(x) for x in labels2], "data": data2}))
    else:
        test_file.write_bytes(np.concatenate([labels2.astype(np.uint8)[:, None], data2], axis=1).tobytes())
    changed = read(tmp_path, "cifar10")
    assert changed.fingerprint != first.fingerprint and changed._store is not first._store
    assert_matches(changed, labels2, data2)
    # a class-names file that appears changes the fingerprint, and is checked
    names = test_file.parent / ("batches.meta.txt" if layout == "binary" else "batches.meta")
    names.unlink()
    without = read(tmp_path, "cifar10")
    assert without.fingerprint != changed.fingerprint


def test_rereading_a_corrupt_file_still_reports_it(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "test_batch.bin").write_bytes(b"\x00" * 3075)
    for _ in range(2):
        with pytest.raises(TaskError, match="3073-byte record"):
            read_binary(tmp_path, "cifar10")


def test_annotation_digest_is_of_the_bytes_read():
    import hashlib

    ann = cifar.load_cifar_b_annotations("cifar10")
    assert ann.sha256 == hashlib.sha256(ann.path.read_bytes()).hexdigest()
