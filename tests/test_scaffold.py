"""``mmh adapter new``: the generated package works as an adapter, by path and by entry point."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmharness import registry
from mmharness.adapter import AdapterError, build_adapter
from mmharness.cli import main
from mmharness.conformance import check_adapter
from mmharness.registry import Registry
from mmharness.requests import Capability
from mmharness.scaffold import ScaffoldError, adapter_names, scaffold_adapter


@pytest.fixture
def isolated(monkeypatch):
    """A fresh global adapter registry for the test; generated modules are forgotten afterwards."""
    monkeypatch.setattr(registry, "ADAPTERS", Registry("adapter", "mmharness.adapters"))
    before = set(sys.modules)
    yield
    for mod in set(sys.modules) - before:
        if mod.startswith(("mmh_adapter_", "mmh_include_")):
            del sys.modules[mod]


def _adapter_file(root: Path, name: str) -> Path:
    return root / "src" / adapter_names(name)["module"] / "adapter.py"


def _failures(results) -> list[str]:
    return [f"{r.capability} via {r.path}: {r.detail}" for r in results if not r.ok]


# --------------------------------------------------------------------------- the generated files


def test_names_are_derived_from_the_adapter_name():
    assert adapter_names("my-clip_2") == {"name": "my-clip_2", "module": "mmh_adapter_my_clip_2",
                                          "class_name": "MyClip2Adapter"}
    assert adapter_names("x") == {"name": "x", "module": "mmh_adapter_x", "class_name": "XAdapter"}


def test_scaffold_writes_the_package_with_every_placeholder_filled(tmp_path):
    root = scaffold_adapter("demo-net", tmp_path / "pkg")
    assert root == (tmp_path / "pkg").absolute()
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/mmh_adapter_demo_net/__init__.py",
                     "src/mmh_adapter_demo_net/adapter.py", "tests/test_adapter.py"]
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8")
        assert "{{" not in text and "}}" not in text, rel
        if rel.endswith(".py"):
            compile(text, rel, "exec")
    readme = (root / "README.md").read_text()
    for command in ("pip install -e .", "mmh adapter check demo-net",
                    "mmh run --model demo-net --tasks cifar10_b --sample"):
        assert command in readme
    test_text = (root / "tests/test_adapter.py").read_text()
    assert "check_adapter(DemoNetAdapter())" in test_text and '"cifar10_b", sample=True' in test_text


def test_pyproject_declares_the_entry_point(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    root = scaffold_adapter("demo-net", tmp_path / "pkg")
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "mmh-adapter-demo-net"
    assert "mmharness" in project["dependencies"]
    assert project["entry-points"]["mmharness.adapters"] == {
        "demo-net": "mmh_adapter_demo_net.adapter:DemoNetAdapter"}


def test_default_destination_is_mmh_adapter_name_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = scaffold_adapter("here", None)
    assert root == tmp_path / "mmh-adapter-here"
    assert (root / "src/mmh_adapter_here/adapter.py").is_file()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("bad", ["", "MyModel", "my model", "1abc", "-abc", "_abc", "my.model",
                                 "my/model", "modèle", "a\n", "abc-", "abc_"])
def test_bad_names_are_rejected_and_nothing_is_written(tmp_path, bad):
    with pytest.raises(ScaffoldError, match="lowercase letter followed by lowercase letters, digits"):
        scaffold_adapter(bad, tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def test_builtin_adapter_names_are_rejected(tmp_path):
    with pytest.raises(ScaffoldError, match="built-in adapter"):
        scaffold_adapter("random", tmp_path / "pkg")


def test_occupied_destinations_are_refused_but_an_empty_directory_is_used(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="already exists and is not empty"):
        scaffold_adapter("demo", tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ScaffoldError, match="not a directory"):
        scaffold_adapter("demo", tmp_path / "afile")

    (tmp_path / "empty").mkdir()
    assert (scaffold_adapter("demo", tmp_path / "empty") / "pyproject.toml").is_file()


# --------------------------------------------------------------------------- the generated adapter


def test_generated_adapter_included_by_path_passes_the_conformance_checks(tmp_path, isolated):
    root = scaffold_adapter("demo-net", tmp_path / "pkg")
    path = _adapter_file(root, "demo-net")
    registry.include(str(path))
    cls = registry.ADAPTERS.get("demo-net")
    assert cls.__name__ == "DemoNetAdapter" and Path(sys.modules[cls.__module__].__file__) == path
    assert cls.capabilities() == {Capability.EMBED_IMAGE, Capability.EMBED_TEXT}
    results = check_adapter(cls())
    assert results and not _failures(results), _failures(results)
    # both derived capabilities (zero-shot classify, matching) are exercised too
    assert {r.capability for r in results} >= {"embed_image", "embed_text", "classify", "match"}


def test_generated_adapter_is_deterministic_typed_and_picklable(tmp_path, monkeypatch, isolated):
    root = scaffold_adapter("demo-net", tmp_path / "pkg")
    monkeypatch.syspath_prepend(str(root / "src"))
    mod = importlib.import_module("mmh_adapter_demo_net.adapter")
    cls = mod.DemoNetAdapter

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = build_adapter(cls, {"dim": "16", "seed": "2"})  # command-line strings, converted by annotation
    assert torch.equal(torch.rand(3), expected), "building the adapter changed the global RNG"
    assert a.model_args == {"dim": 16, "seed": 2}

    images = torch.stack([a.preprocess("image")(_image(i)) for i in range(3)])
    assert images.shape == (3, 3, 32, 32)
    e = a.embed_image(images)
    t = a.embed_text(["a photo of a cat", "", "x"])
    assert e.shape == (3, 16) and t.shape == (3, 16) and e.dtype == t.dtype == torch.float32
    assert torch.allclose(e.norm(dim=-1), torch.ones(3)) and torch.allclose(t.norm(dim=-1), torch.ones(3))

    b = cls(dim=16, seed=2)
    assert torch.equal(b.embed_image(images), e) and torch.equal(b.embed_text(["a photo of a cat", "", "x"]), t)
    assert torch.allclose(b.embed_text(["a photo of a cat"]), t[:1], atol=1e-6)  # batching changes only rounding
    assert a.fingerprint() == b.fingerprint()
    c = cls(dim=16, seed=3)
    assert c.fingerprint() != a.fingerprint() and not torch.equal(c.embed_image(images), e)

    # identical in another process too (string hashing there is salted differently), so cached
    # responses from an earlier run stay valid
    code = ("import json, sys; from mmh_adapter_demo_net.adapter import DemoNetAdapter as C; "
            "print(json.dumps(C(dim=16, seed=2).embed_text(['a photo of a cat', '', 'x']).tolist()))")
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == t.tolist()

    fn = pickle.loads(pickle.dumps(a.preprocess("image")))
    assert torch.equal(fn(_image(0)), images[0])
    with pytest.raises(AdapterError, match="no argument 'width'"):
        build_adapter(cls, {"width": "3"})
    with pytest.raises(AdapterError, match="dim must be positive"):
        cls(dim=0)


def _image(i: int):
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 50, 3), dtype=np.uint8))


def test_generated_adapter_is_found_through_its_entry_point(tmp_path, monkeypatch, isolated):
    """No pip install: a hand-made dist-info on sys.path stands in for the installed package."""
    name = "ep-demo"
    names = adapter_names(name)
    root = scaffold_adapter(name, tmp_path / "pkg")
    site = tmp_path / "site"
    dist = site / "mmh_adapter_ep_demo-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmh-adapter-ep-demo\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[mmharness.adapters]\n{name} = {names['module']}.adapter:{names['class_name']}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(root / "src"))

    fresh = Registry("adapter", "mmharness.adapters")
    assert name in fresh.names()
    cls = fresh.get(name)
    assert cls is sys.modules[f"{names['module']}.adapter"].EpDemoAdapter
    assert cls.name == name
    assert fresh.origin(name) == "entry point (mmh-adapter-ep-demo)"
    assert not _failures(check_adapter(cls()))


# --------------------------------------------------------------------------- the command line


def test_cli_new_then_check(tmp_path, isolated):
    runner = CliRunner()
    dest = tmp_path / "pkg"
    first = runner.invoke(main, ["adapter", "new", "cli-demo", "--dir", str(dest)])
    assert first.exit_code == 0, first.output
    assert f"created {dest}" in first.output and "mmh adapter check cli-demo" in first.output

    again = runner.invoke(main, ["adapter", "new", "cli-demo", "--dir", str(dest)])
    assert again.exit_code == 2
    assert "already exists and is not empty" in again.output and "Traceback" not in again.output

    check = runner.invoke(main, ["adapter", "check", "cli-demo", "--include", str(_adapter_file(dest, "cli-demo"))])
    assert check.exit_code == 0, check.output
    assert "adapter 'cli-demo' passes all" in check.output and "FAIL" not in check.output


def test_cli_rejects_a_bad_name(tmp_path):
    result = CliRunner().invoke(main, ["adapter", "new", "Bad Name", "--dir", str(tmp_path / "pkg")])
    assert result.exit_code == 2
    assert "invalid adapter name 'Bad Name'" in result.output and "lowercase letter" in result.output
    assert not (tmp_path / "pkg").exists()
