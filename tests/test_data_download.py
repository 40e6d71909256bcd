"""``mmh data download/verify``: archives built from the bundled official-layout samples, served over
a loopback HTTP server (Range support; a mode that drops the connection part-way the first time),
fetched, checked, unpacked, and then run as the task; nothing leaves the machine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mmharness.cli import main
from mmharness.data_fetch import DownloadError, http_download
from mmharness.data_sources import CIFAR_SOURCES, FAMILY_SOURCES, MMRA_SOURCES, Checksum
from mmharness.data_store import ChecksumError, download_source, load_manifest, manifest_path, verify_source
from mmharness.data_unpack import UnpackError, unpack_into
from mmharness.loaders.cifar import CIFAR10_CLASSES

from test_cifar_loaders import write_torchvision

SAMPLES = Path(__file__).resolve().parents[1] / "mmharness" / "data" / "samples"


# --------------------------------------------------------------------------- the loopback server


class Server:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 with Range support. ``drop_after[name] = n``:
    the first GET of ``name`` sends the full length header but closes after ``n`` bytes.
    ``ignore_range``: answer 200 with the whole file even to a Range request. ``requests`` logs
    (path, Range header) of every GET."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                srv.requests.append((name, rng))
                body = srv.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not srv.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = srv.drop_after.pop(name, None)
                self.wfile.write(body[start:] if cut is None else body[start:start + cut])
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# --------------------------------------------------------------------------- archives from the samples


def _cifar10_sample():
    """The bundled CIFAR-10 sample (class index, then file name: the png loader's order) as the
    python version's uint8 rows (R, G, B planes) and labels."""
    rows, labels = [], []
    for c, name in enumerate(CIFAR10_CLASSES):
        for p in sorted((SAMPLES / "cifar10_b" / "test" / name).glob("*.png")):
            a = np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8)
            rows.append(a.transpose(2, 0, 1).reshape(-1))
            labels.append(c)
    return np.stack(rows), labels


def _tar_gz(folder: Path, arcname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(folder, arcname=arcname)
    return buf.getvalue()


@pytest.fixture(scope="module")
def cifar_tarball(tmp_path_factory) -> bytes:
    """cifar-10-python.tar.gz built from the sample: cifar-10-batches-py/{test_batch, batches.meta}."""
    work = tmp_path_factory.mktemp("cifar_build")
    data, labels = _cifar10_sample()
    write_torchvision(work, "cifar10", labels, data)
    return _tar_gz(work / "cifar-10-batches-py", "cifar-10-batches-py")


def _vg_images_zip() -> bytes:
    """vgr_vga_images.zip as ARO ships it: images/<id>.jpg (here the sample's images)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((SAMPLES / "snare" / "prerelease_bow" / "images").iterdir()):
            zf.write(p, f"images/{p.name}")
    return buf.getvalue()


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _cifar_source(server: Server, body: bytes):
    """The declared CIFAR-10 source pointed at the loopback server, with the checksum of ``body``
    (the official md5 is of the real archive)."""
    server.files["cifar-10-python.tar.gz"] = body
    return replace(CIFAR_SOURCES[0], location=f"{server.url}/cifar-10-python.tar.gz",
                   checksum=Checksum("md5", _md5(body), "this test"), expect=())


def _leftovers(root: Path) -> list[str]:
    """Temporary files and folders the download or the unpacking could leave."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if ".unpack-" in p.name or p.name.endswith(".part") or ".old-" in p.name)


def _run(*args) -> "object":
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _results(out: Path) -> dict:
    (path,) = sorted(out.glob("results_*.json"))
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- HTTP


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    body = bytes(range(256)) * 4000  # 1 MB
    server.files["blob.bin"] = body
    server.drop_after["blob.bin"] = 300_000
    out = http_download(f"{server.url}/blob.bin", tmp_path / "blob.bin", progress=False)
    assert server.requests == [("blob.bin", None), ("blob.bin", "bytes=300000-")]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()
    assert not (tmp_path / "blob.bin.part").exists()


def test_a_part_left_by_an_earlier_call_is_resumed(server, tmp_path):
    body = b"0123456789" * 10_000
    server.files["f.bin"] = body
    (tmp_path / "f.bin.part").write_bytes(body[:12_345])
    http_download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert server.requests == [("f.bin", "bytes=12345-")]
    assert (tmp_path / "f.bin").read_bytes() == body


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    body = b"abcdefgh" * 50_000
    server.files["f.bin"] = body
    server.drop_after["f.bin"] = 100_000
    server.ignore_range = True
    http_download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert [r for _, r in server.requests] == [None, "bytes=100000-"]
    assert (tmp_path / "f.bin").read_bytes() == body  # not the first 100 kB twice


def test_a_missing_file_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nope\.bin: HTTP 404"):
        http_download(f"{server.url}/nope.bin", tmp_path / "nope.bin", progress=False)


# --------------------------------------------------------------------------- CIFAR-10: download, run, skip


def test_cifar10_download_unpacks_the_loader_layout_and_runs(server, tmp_path, cifar_tarball):
    root = tmp_path / "data"
    server.drop_after["cifar-10-python.tar.gz"] = len(cifar_tarball) // 3
    src = _cifar_source(server, cifar_tarball)
    action, report = download_source(src, root, progress=False)
    assert (action, report.status) == ("downloaded", "ok")
    assert [r for _, r in server.requests] == [None, f"bytes={len(cifar_tarball) // 3}-"]
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == ["batches.meta", "test_batch"]
    assert _leftovers(root) == [] and not (root / ".mmh-data" / "downloads" / "cifar-10-python.tar.gz").exists()
    entry = load_manifest(root)["sources"]["cifar-10-python"]
    assert entry["checksum"] == {"algo": "md5", "hex": _md5(cifar_tarball), "published": True}
    assert entry["url"] == f"{server.url}/cifar-10-python.tar.gz" and set(entry["files"]) == {"batches.meta",
                                                                                            "test_batch"}

    # the tree runs the task: the same 50 images as the bundled sample, so the same accuracy
    r = _run("run", "--model", "random", "--model-args", "seed=0", "--tasks", "cifar10_b", "--data-root", root,
             "--no-cache", "-o", tmp_path / "full")
    assert r.exit_code == 0, r.output
    s = _run("run", "--model", "random", "--model-args", "seed=0", "--tasks", "cifar10_b", "--sample",
             "--no-cache", "-o", tmp_path / "sample")
    assert s.exit_code == 0, s.output
    full, sample = _results(tmp_path / "full")["tasks"]["cifar10_b"], _results(tmp_path / "sample")["tasks"]["cifar10_b"]
    assert full["n_samples"] == sample["n_samples"] == 50
    assert full["data"]["kind"] == "full" and "cifar-10-batches-py" in full["data"]["source"]
    assert full["metrics"]["accuracy"]["value"] == sample["metrics"]["accuracy"]["value"]

    # a second call checks and skips: no request
    n = len(server.requests)
    assert download_source(src, root, progress=False)[0] == "skipped"
    assert len(server.requests) == n


def test_the_published_md5_refuses_a_file_that_is_not_the_official_archive(server, tmp_path, cifar_tarball):
    """The real declaration, through a mirror serving the sample tarball: its md5 is not the one
    torchvision publishes, so it is refused before anything is unpacked."""
    root = tmp_path / "data"
    server.files["cifar-10-python.tar.gz"] = cifar_tarball
    r = _run("data", "download", "cifar10_b", "--data-root", root, "--mirror", server.url, "--no-progress")
    assert r.exit_code == 1
    assert f"md5 {_md5(cifar_tarball)}, expected c58f30108f718f92721af3b95e74349a" in r.output
    assert "torchvision" in r.output and "nothing was unpacked" in r.output
    assert not (root / "cifar-10-batches-py").exists() and _leftovers(root) == []
    assert not (root / ".mmh-data" / "downloads" / "cifar-10-python.tar.gz").exists()
    assert load_manifest(root)["sources"] == {}


def test_a_truncated_archive_is_refused_and_nothing_half_unpacked_stays(server, tmp_path, cifar_tarball):
    root = tmp_path / "data"
    cut = cifar_tarball[: len(cifar_tarball) * 2 // 3]
    server.files["cifar-10-python.tar.gz"] = cut
    src = replace(CIFAR_SOURCES[0], location=f"{server.url}/cifar-10-python.tar.gz", checksum=None)
    with pytest.raises(UnpackError, match=r"cifar-10-python\.tar\.gz: not a complete tar archive"):
        download_source(src, root, progress=False)
    assert not (root / "cifar-10-batches-py").exists() and _leftovers(root) == []
    assert list((root / ".mmh-data" / "downloads").iterdir()) == []  # deleted: the next call fetches again
    assert "cifar-10-python" not in load_manifest(root)["sources"]


def test_a_corrupt_replacement_keeps_the_old_tree(server, tmp_path, cifar_tarball):
    """A re-download (the tree no longer verifies) whose archive is truncated leaves the previous
    files where they were."""
    root = tmp_path / "data"
    src = _cifar_source(server, cifar_tarball)
    download_source(src, root, progress=False)
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    server.files["cifar-10-python.tar.gz"] = cifar_tarball[: len(cifar_tarball) // 2]
    with pytest.raises(ChecksumError):
        download_source(src, root, progress=False)
    assert (root / "cifar-10-batches-py" / "test_batch").is_file() and _leftovers(root) == []
    # an archive that fails while unpacking over the existing tree leaves it as it was
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(cifar_tarball[: len(cifar_tarball) // 2])
    with pytest.raises(UnpackError, match="not a complete tar archive"):
        unpack_into(cut, "tar", root / "cifar-10-batches-py", strip="cifar-10-batches-py")
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == ["test_batch"]
    assert _leftovers(root) == []
    # the good archive again: the tree is replaced as a whole (the old one moved aside, then removed)
    server.files["cifar-10-python.tar.gz"] = cifar_tarball
    assert download_source(src, root, progress=False)[0] == "downloaded"
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == ["batches.meta", "test_batch"]
    assert _leftovers(root) == [] and verify_source(src, root).status == "ok"


def test_unsafe_archive_members_are_refused(tmp_path):
    def tar_with(name: str, link: str | None = None) -> Path:
        path = tmp_path / f"a{len(list(tmp_path.iterdir()))}.tar"
        with tarfile.open(path, "w") as tf:
            ok = tarfile.TarInfo("top/ok.txt")
            ok.size = 2
            tf.addfile(ok, io.BytesIO(b"ok"))
            ti = tarfile.TarInfo(name)
            if link:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                tf.addfile(ti)
            else:
                ti.size = 4
                tf.addfile(ti, io.BytesIO(b"evil"))
        return path

    dest = tmp_path / "out" / "top"
    for archive, why in ((tar_with("top/../../evil.txt"), "absolute path or '..'"),
                         (tar_with("/etc/evil.txt"), "absolute path or '..'"),
                         (tar_with("top/link", link="../../../etc/passwd"), "is a link"),
                         (tar_with("other/x.txt"), "is not under top/")):
        with pytest.raises(UnpackError, match=why):
            unpack_into(archive, "tar", dest, strip="top")
        assert not dest.exists() and not (tmp_path / "evil.txt").exists()
        assert [p.name for p in (tmp_path / "out").iterdir()] == []
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("images/a.jpg", b"x")
        zf.writestr("images/../../b.jpg", b"y")
    with pytest.raises(UnpackError, match=r"'images/\.\./\.\./b\.jpg' has an absolute path or '\.\.'"):
        unpack_into(zpath, "zip", dest, strip="images")
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


# --------------------------------------------------------------------------- SNARE: licence, mirror, verify


def _serve_snare(server: Server) -> None:
    bow = SAMPLES / "snare" / "prerelease_bow"
    server.files["visual_genome_relation.json"] = (bow / "visual_genome_relation.json").read_bytes()
    server.files["vgr_vga_images.zip"] = _vg_images_zip()


def test_snare_needs_the_licence_accepted_then_downloads_runs_verifies(server, tmp_path):
    _serve_snare(server)
    root = tmp_path / "data"
    task = "snare_relationship_composition"
    r = _run("data", "download", task, "--data-root", root, "--mirror", server.url, "--no-progress")
    assert r.exit_code != 0 and "--accept-licence" in r.output
    assert "Visual Genome" in r.output and "CC BY 4.0" in r.output  # the terms are printed
    assert server.requests == [] and not root.exists()

    r = _run("data", "download", task, "--data-root", root, "--mirror", server.url, "--accept-licence",
             "--no-progress")
    assert r.exit_code == 0, r.output
    assert "aro-vg-relation: downloaded, verified" in r.output and "aro-vg-images: downloaded, verified" in r.output
    assert sorted(n for n, _ in server.requests) == ["vgr_vga_images.zip", "visual_genome_relation.json"]
    images = sorted(p.name for p in (root / "prerelease_bow" / "images").iterdir())
    assert images == sorted(p.name for p in (SAMPLES / "snare" / "prerelease_bow" / "images").iterdir())
    man = load_manifest(root)["sources"]
    assert man["aro-vg-relation"]["mirror"] == server.url and man["aro-vg-relation"]["licence_accepted"] is True
    assert man["aro-vg-relation"]["checksum"] == {
        "algo": "sha256", "published": False,
        "hex": hashlib.sha256(server.files["visual_genome_relation.json"]).hexdigest()}

    # the tree runs the task, with the sample's numbers (same files)
    args = ("run", "--model", "random", "--model-args", "seed=0", "--tasks", task, "--no-cache")
    assert _run(*args, "--data-root", root, "-o", tmp_path / "full").exit_code == 0
    assert _run(*args, "--sample", "-o", tmp_path / "sample").exit_code == 0
    full, sample = _results(tmp_path / "full")["tasks"][task], _results(tmp_path / "sample")["tasks"][task]
    assert full["n_samples"] == sample["n_samples"] > 0 and full["data"]["kind"] == "full"
    assert {k: v["value"] for k, v in full["metrics"].items()} == {k: v["value"] for k, v in sample["metrics"].items()}

    # second call: checked and skipped
    n = len(server.requests)
    r = _run("data", "download", task, "--data-root", root, "--mirror", server.url, "--accept-licence",
             "--no-progress")
    assert r.exit_code == 0 and r.output.count("already there, verified") == 2 and len(server.requests) == n

    # verify names the deleted file
    assert _run("data", "verify", task, "--data-root", root).exit_code == 0
    gone = images[1]
    (root / "prerelease_bow" / "images" / gone).unlink()
    r = _run("data", "verify", task, "--data-root", root)
    assert r.exit_code == 1
    assert f"missing file prerelease_bow/images/{gone}" in r.output and "aro-vg-relation: ok" in r.output
    assert f"fix: mmh data download {task} --data-root {root}" in r.output

    # a changed file on a re-download differs from the sha256 recorded the first time: refused
    server.files["vgr_vga_images.zip"] = server.files["vgr_vga_images.zip"] + b"\0"
    r = _run("data", "download", task, "--data-root", root, "--mirror", server.url, "--accept-licence",
             "--no-progress")
    assert r.exit_code == 1 and "differs from" in r.output and "recorded when it was first downloaded" in r.output
    assert (root / "prerelease_bow" / "images" / images[0]).is_file()  # the old tree is untouched


def test_verify_a_root_without_data_lists_what_to_get(tmp_path):
    r = _run("data", "verify", "cifar10_b", "snare_semantic_structure_flickr30k", "mintrec2", "--data-root", tmp_path)
    assert r.exit_code == 1
    assert "cifar-10-python: missing" in r.output and "missing cifar-10-batches-py/" in r.output
    assert "flickr30k-images: missing" in r.output and "registration form" in r.output
    assert "THUIAR/MMLA-Datasets:MIntRec2.0: incomplete\n  missing folder MIntRec2.0/" in r.output
    assert "4 of 4 source(s) missing or incomplete" in r.output


def test_a_hub_source_offline_says_so(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match=r"m-a-p/MMRA: .*HF_HUB_OFFLINE is set"):
        download_source(MMRA_SOURCES[0], tmp_path, progress=False)
    assert load_manifest(tmp_path)["sources"] == {}


# --------------------------------------------------------------------------- list, cards


def test_every_task_declares_where_its_data_comes_from():
    from mmharness.data_sources import sources_for_task
    from mmharness.registry import TASKS

    builtin = [t for t in TASKS.names() if TASKS.origin(t) == "builtin"]  # not the plugin tests' toys
    assert len(builtin) > 40 and [t for t in builtin if not sources_for_task(t)] == []
    names = [s.name for ss in FAMILY_SOURCES.values() for s in ss]
    assert len(names) == len(set(names))


def test_data_list_fits_100_columns_and_shows_a_source_in_full():
    r = _run("data", "list")
    assert r.exit_code == 0 and max(len(line) for line in r.output.splitlines()) <= 100
    words = " ".join(r.output.split())
    for family in FAMILY_SOURCES:
        assert family in words
    wide = _run("data", "list", "--width", "200").output.splitlines()
    row = next(line for line in wide if " cifar-10-python " in line)
    assert row.split() == ["CIFAR-B", "cifar10_b", "cifar-10-python", "163", "MB", "none", "stated",
                           "www.cs.toronto.edu"]
    row = next(line for line in wide if " aro-vg-images " in line)
    assert "VG terms (CC BY 4.0) (accept)" in row and "Google Drive" in row
    r = _run("data", "list", "cifar10_b")
    words = " ".join(r.output.split())
    assert "checksum md5 c58f30108f718f92721af3b95e74349a" in words and "<data-root>/cifar-10-batches-py" in words
    assert "cifar10_b: mmh data download cifar10_b --data-root DIR" in words
    doc = json.loads(_run("data", "list", "snare_relationship_composition", "--json").output)
    assert [s["name"] for s in doc["sources"]] == ["aro-vg-relation", "aro-vg-images"]
    assert doc["sources"][0]["licence"]["accept_required"] is True


def test_task_cards_carry_the_download_line():
    r = _run("tasks", "snare_spatial_relationship")
    words = " ".join(r.output.split())
    assert "download mmh data download snare_spatial_relationship --data-root DIR --accept-licence" in words
    card = json.loads(_run("tasks", "cifar10_b", "--json").output)
    card = card[0] if isinstance(card, list) else card.get("tasks", [card])[0]
    assert card["data"]["download"] == "mmh data download cifar10_b --data-root DIR"
    assert card["data"]["sources"] == ["cifar-10-python"]


# --------------------------------------------------------------------------- COCO: counts


def _zip_folder(folder: Path, prefix: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"{prefix}/{p.name}")
    return buf.getvalue()


def test_coco_from_a_mirror_is_unpacked_and_counted(server, tmp_path):
    """The real COCO declarations through a mirror serving the 8-image sample: both zips unpack into
    the layout coco_detection reads, and the image count (5,000 in val2017) says what is missing."""
    coco = SAMPLES / "coco"
    server.files["annotations_trainval2017.zip"] = _zip_folder(coco / "annotations", "annotations")
    server.files["val2017.zip"] = _zip_folder(coco / "val2017", "val2017")
    root = tmp_path / "data"
    r = _run("data", "download", "coco_detection", "--data-root", root, "--mirror", server.url, "--no-progress")
    assert r.exit_code == 1
    assert "coco-annotations-2017: downloaded, verified -> coco/annotations" in r.output
    assert "coco/val2017/: 8 files matching *.jpg, expected 5000" in r.output
    r = _run("data", "verify", "coco_detection", "--data-root", root)
    assert r.exit_code == 1 and "coco-annotations-2017: ok" in r.output
    assert "coco-val2017: incomplete\n  coco/val2017/: 8 files matching *.jpg, expected 5000" in r.output

    args = ("run", "--model", "oracle", "--tasks", "coco_detection", "--no-cache")
    assert _run(*args, "--data-root", root, "-o", tmp_path / "full").exit_code == 0
    assert _run(*args, "--sample", "-o", tmp_path / "sample").exit_code == 0
    full, sample = (_results(tmp_path / d)["tasks"]["coco_detection"] for d in ("full", "sample"))
    assert full["n_samples"] == sample["n_samples"] == 8 and full["data"]["kind"] == "full"
    assert full["metrics"]["bbox_AP"]["value"] == sample["metrics"]["bbox_AP"]["value"] == 1.0


def test_without_gdown_a_drive_source_names_the_extra(tmp_path, monkeypatch):
    import sys

    from mmharness.data_fetch import gdrive_download

    monkeypatch.setitem(sys.modules, "gdown", None)  # as when the data extra is not installed
    with pytest.raises(DownloadError, match=r"needs gdown: pip install 'mmharness\[data\]'"):
        gdrive_download("1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3", tmp_path / "x.json", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_hub_snapshot_records_only_its_own_files(tmp_path, monkeypatch):
    """MIntRec2.0 lands in the data root itself (dest '.'): the manifest records the snapshot's files
    matching its patterns, never the hub's .cache/ or other datasets already in the root."""
    import mmharness.data_store as store
    from mmharness.data_sources import MINTREC2_SOURCES

    root = tmp_path / "data"
    (root / "coco" / "val2017").mkdir(parents=True)
    (root / "coco" / "val2017" / "1.jpg").write_bytes(b"jpg")
    (root / "other.tsv").write_text("not MIntRec2.0\n")

    def fake_snapshot(repo_id, local_dir, *, revision=None, allow_patterns=(), progress=True):
        assert repo_id == "THUIAR/MMLA-Datasets" and allow_patterns == ("MIntRec2.0/*.tsv", "MIntRec2.0/*.json")
        local_dir = Path(local_dir)
        for rel in ("MIntRec2.0/train.tsv", "MIntRec2.0/dev.tsv", "MIntRec2.0/labels.json",
                    ".cache/huggingface/download/MIntRec2.0/train.tsv.metadata"):
            (local_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (local_dir / rel).write_text(rel + "\n")
        return local_dir, "0123abcd"

    monkeypatch.setattr(store, "hf_snapshot", fake_snapshot)
    action, report = download_source(MINTREC2_SOURCES[0], root, progress=False)
    assert action == "downloaded" and report.ok
    entry = load_manifest(root)["sources"]["THUIAR/MMLA-Datasets:MIntRec2.0"]
    assert sorted(entry["files"]) == ["MIntRec2.0/dev.tsv", "MIntRec2.0/labels.json", "MIntRec2.0/train.tsv"]
    assert entry["revision"] == "0123abcd"
    assert download_source(MINTREC2_SOURCES[0], root, progress=False)[0] == "skipped"


def test_a_mirror_without_the_file_says_what_it_must_serve(server, tmp_path):
    r = _run("data", "download", "cifar10_b", "--data-root", tmp_path / "data", "--mirror", server.url, "--no-progress")
    assert r.exit_code == 1
    words = " ".join(r.output.split())
    assert "cifar-10-python: FAILED:" in words and "HTTP 404" in words
    assert (f"--mirror {server.url} must serve cifar-10-python.tar.gz, the file of "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz; or drop --mirror") in words


def test_a_hub_snapshot_fetches_the_commit_it_records(tmp_path, monkeypatch):
    """The revision is resolved before the download and the download asks for that commit, so the
    commit recorded in the manifest is the one whose files were fetched (not a later one)."""
    import huggingface_hub
    from huggingface_hub import constants

    from mmharness.data_fetch import hf_snapshot

    calls = []

    class FakeApi:
        def dataset_info(self, repo_id, revision=None):
            calls.append(("info", repo_id, revision))
            return type("Info", (), {"sha": "c0ffee"})()

    def fake_download(repo_id, repo_type, revision, local_dir, allow_patterns):
        calls.append(("download", repo_id, revision))
        return local_dir

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    path, commit = hf_snapshot("m-a-p/MMRA", tmp_path / "MMRA", progress=False)
    assert commit == "c0ffee" and path == tmp_path / "MMRA"
    assert calls == [("info", "m-a-p/MMRA", None), ("download", "m-a-p/MMRA", "c0ffee")]


def test_data_list_does_not_import_task_modules(monkeypatch):
    """Sources are matched by task name: a plugin task whose module cannot be imported is listed
    (nothing to download) instead of stopping `mmh data list`; an unknown name is still an error."""
    from mmharness.data_sources import sources_for_task
    from mmharness.registry import TASKS, RegistryError

    TASKS.names()  # scanned before the fake entry is added
    monkeypatch.setitem(TASKS._refs, "broken_plugin_task", "no_such_module_here:Task")
    assert sources_for_task("broken_plugin_task") == ()
    doc = json.loads(_run("data", "list", "--json").output)
    assert doc["tasks"]["broken_plugin_task"] is None
    with pytest.raises(RegistryError, match="unknown task 'cifar10_bb'"):
        sources_for_task("cifar10_bb")
