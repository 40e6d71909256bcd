"""SNARE loaders on data generated in the official formats: bbox crops, filters, counts, and the
bad-input errors (missing bbox or attribute fields, unknown relation, escaping image paths, wrong
caption lists), each naming the file and the item."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.loaders.aro import CroppedImageFile, UnsafePathError, read_vg_attribution, read_vg_relation, safe_image_path
from mmharness.loaders.karpathy import read_karpathy
from mmharness.requests import MediaDecodeError
from mmharness.task import DataConfig, DataNotFoundError, TaskError
from mmharness.tasks.snare import (
    SnareAttributeOwnership,
    SnareNegationLogic,
    SnareRelationshipComposition,
    SnareSemanticStructureCoco,
    SnareSpatialRelationship,
)


def rel_item(subj, rel, obj, **kw):
    d = {"image_path": "1.jpg", "bbox_x": 10, "bbox_y": 5, "bbox_w": 20.4, "bbox_h": 30, "relation_name": rel,
         "true_caption": f"the {subj} is {rel} the {obj}", "false_caption": f"the {obj} is {rel} the {subj}"}
    d.update(kw)
    return d


def att_item(o1, o2, a0, a1, **kw):
    d = {"image_path": "1.jpg", "bbox_x": 0, "bbox_y": 0, "bbox_w": 40, "bbox_h": 40, "attributes": [a0, a1],
         "obj1_name": o1, "obj2_name": o2, "true_caption": f"the {a0} {o1} and the {a1} {o2}",
         "false_caption": f"the {a1} {o1} and the {a0} {o2}"}
    d.update(kw)
    return d


def make_root(tmp_path: Path, relation=None, attribution=None) -> Path:
    root = tmp_path / "data"
    images = root / "prerelease_bow" / "images"
    images.mkdir(parents=True)
    arr = np.arange(64 * 48 * 3, dtype=np.uint32).reshape(48, 64, 3) % 251
    Image.fromarray(arr.astype(np.uint8)).save(images / "1.png")
    (images / "1.jpg").write_bytes((images / "1.png").read_bytes())  # PIL sniffs the format
    if relation is not None:
        (root / "prerelease_bow" / "visual_genome_relation.json").write_text(json.dumps(relation))
    if attribution is not None:
        (root / "prerelease_bow" / "visual_genome_attribution.json").write_text(json.dumps(attribution))
    return root


# --------------------------------------------------------------------------- crops


def test_cropped_image_is_the_official_pil_crop(tmp_path):
    root = make_root(tmp_path)
    path = root / "prerelease_bow" / "images" / "1.png"
    ref = CroppedImageFile(str(path), (10.0, 5.0, 20.4, 30.0))
    got = ref.load()
    with Image.open(path) as im:
        exp = im.convert("RGB").crop((10.0, 5.0, 10.0 + 20.4, 5.0 + 30.0))
    assert got.size == exp.size == (20, 30)
    assert np.array_equal(np.asarray(got), np.asarray(exp))
    assert np.array_equal(np.asarray(got)[0, 0], np.asarray(Image.open(path))[5, 10])
    assert "crop x=10 y=5 w=20.4 h=30" in ref.describe()
    with pytest.raises(MediaDecodeError, match="not found"):
        CroppedImageFile(str(root / "missing.jpg"), (0, 0, 1, 1)).load()


def test_relation_tasks_filter_and_crop(tmp_path):
    relation = [rel_item("woman", "wearing", "shirt"), rel_item("car", "near", "tree"),
                rel_item("cup", "on", "table"), rel_item("tree", "to the left of", "house"),
                rel_item("boy", "next to", "girl"), rel_item("rug", "below", "table")]
    root = make_root(tmp_path, relation=relation)
    cfg = DataConfig(root=root)
    comp = SnareRelationshipComposition()
    data = comp.load(cfg)
    assert [s.id for s in data.samples] == ["00000", "00002", "00003", "00005"]  # near, next to dropped
    assert data.samples[0].meta["options"] == ["the woman is wearing the shirt", "the shirt is wearing the woman",
                                               "the woman and the shirt"]
    req = comp.request(data.samples[0])
    assert req.reference == 0 and req.texts == data.samples[0].meta["options"]
    assert req.image.load().size == (20, 30)
    spatial = SnareSpatialRelationship()
    sdata = spatial.load(cfg)
    assert [(s.id, s.gold) for s in sdata.samples] == [("00002", 2), ("00003", 0), ("00005", 3)]
    assert spatial._counts["per_relation"] == {"to the left of": 1, "to the right of": 0, "on": 1, "below": 1}
    assert data.fingerprint != sdata.fingerprint


def test_attribution_tasks_build_the_official_options(tmp_path):
    root = make_root(tmp_path, attribution=[att_item("bus", "road", "white", "black")])
    neg = SnareNegationLogic().load(DataConfig(root=root)).samples[0]
    assert neg.meta["options"] == ["the bus is white and the road is black",
                                   "the bus is not white and the road is not black"]
    assert neg.meta["group"] == "white_black"
    own = SnareAttributeOwnership().load(DataConfig(root=root)).samples[0]
    assert own.meta["options"][2] == "the bus and the road are white and black respectively"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad, message", [
    ({"bbox_w": None}, r"visual_genome_relation.json: item 1 \(image_path='1.jpg'\): bbox field 'bbox_w' must be a finite number"),
    ({"bbox_h": 0}, r"item 1 .*width and height must be positive"),
    ({"relation_name": "riding"}, r"item 1 .*unknown relation name 'riding': it does not occur in true_caption"),
    ({"relation_name": ""}, r"item 1 .*unknown relation name ''"),
    ({"true_caption": 3}, r"item 1 .*field 'true_caption' must be a non-empty string"),
])
def test_bad_relation_items_name_file_and_item(tmp_path, bad, message):
    relation = [rel_item("cup", "on", "table"), rel_item("man", "holding", "cup", **bad)]
    root = make_root(tmp_path, relation=relation)
    with pytest.raises(TaskError, match=message):
        SnareRelationshipComposition().load(DataConfig(root=root))


def test_missing_bbox_field(tmp_path):
    item = rel_item("cup", "on", "table")
    del item["bbox_y"]
    root = make_root(tmp_path, relation=[item])
    with pytest.raises(TaskError, match=r"item 0 .*missing bbox field\(s\) bbox_y"):
        SnareSpatialRelationship().load(DataConfig(root=root))


@pytest.mark.parametrize("change, message", [
    ("drop_attributes", r"visual_genome_attribution.json: item 0 .*missing field 'attributes'"),
    ("three_attributes", r"item 0 .*'attributes' must be a list of 2 non-empty strings"),
    ("drop_obj2", r"item 0 .*missing field 'obj2_name'"),
])
def test_bad_attribution_items(tmp_path, change, message):
    item = att_item("bus", "road", "white", "black")
    if change == "drop_attributes":
        del item["attributes"]
    elif change == "three_attributes":
        item["attributes"] = ["white", "black", "red"]
    else:
        del item["obj2_name"]
    root = make_root(tmp_path, attribution=[item])
    with pytest.raises(TaskError, match=message):
        SnareNegationLogic().load(DataConfig(root=root))


@pytest.mark.parametrize("path", ["../secret.jpg", "images/../../x.jpg", "/etc/passwd", "a/../../b.jpg"])
def test_image_paths_escaping_the_image_root_are_rejected(tmp_path, path):
    root = make_root(tmp_path, attribution=[att_item("bus", "road", "white", "black", image_path=path)])
    with pytest.raises(UnsafePathError, match=r"visual_genome_attribution.json: item 0 .*(escapes|absolute)"):
        SnareAttributeOwnership().load(DataConfig(root=root))


def test_safe_image_path_accepts_normal_relative_paths(tmp_path):
    assert safe_image_path(tmp_path, "sub/./a.jpg", "x") == str(tmp_path / "sub" / "a.jpg")
    assert safe_image_path(tmp_path, "sub/../a.jpg", "x") == str(tmp_path / "a.jpg")
    with pytest.raises(TaskError, match="non-empty string"):
        safe_image_path(tmp_path, None, "x")


def test_missing_data_names_the_expected_paths_and_sources(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"prerelease_bow.*1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3"):
        SnareRelationshipComposition().load(DataConfig(root=tmp_path))
    with pytest.raises(DataNotFoundError, match=r"coco_karpathy_test.json.*sfr-vision-language-research"):
        SnareSemanticStructureCoco(pos_tagger="file", pos_tags="x").load(DataConfig(root=tmp_path))
    with pytest.raises(DataNotFoundError, match="--data-root"):
        SnareNegationLogic().load(DataConfig())
    with pytest.raises(TaskError, match="data source 'torchvision' is not supported; SNARE reads official or hf"):
        SnareNegationLogic().load(DataConfig(root=tmp_path, source="torchvision"))


def test_karpathy_reader_checks_caption_lists(tmp_path):
    ann = tmp_path / "coco_karpathy_test.json"
    ann.write_text(json.dumps([{"image": "val2014/a.jpg", "caption": ["a", "b"]},
                               {"image": "val2014/b.jpg", "caption": "one caption"}]))
    with pytest.raises(TaskError, match=r"entry 1: 'caption' is a single string.*train split"):
        read_karpathy(ann, tmp_path)
    ann.write_text(json.dumps([{"image": "val2014/a.jpg", "caption": []}]))
    with pytest.raises(TaskError, match=r"entry 0: 'caption' must be a non-empty list of strings"):
        read_karpathy(ann, tmp_path)
    ann.write_text(json.dumps([{"image": "../a.jpg", "caption": ["x"]}]))
    with pytest.raises(UnsafePathError, match="entry 0"):
        read_karpathy(ann, tmp_path)
    ann.write_text(json.dumps([{"image": "val2014/a.jpg", "caption": ["x", "y"], "image_id": 1}]))
    entries = read_karpathy(ann, tmp_path)
    assert entries[0].captions == ("x", "y") and entries[0].image_file == str(tmp_path / "val2014" / "a.jpg")


def test_readers_reject_non_list_files(tmp_path):
    p = tmp_path / "v.json"
    p.write_text(json.dumps({"items": []}))
    with pytest.raises(TaskError, match=r"v.json: expected a JSON list"):
        read_vg_relation(p, tmp_path)
    p.write_text("[{")
    with pytest.raises(TaskError, match="not valid JSON"):
        read_vg_attribution(p, tmp_path)
