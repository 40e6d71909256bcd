"""SNARE on the Hugging Face mirrors (``--data-source hf``), on parquet files generated here in the
mirrors' schemas from the bundled official-format sample: the same cases (ids, options, gold,
groups) and pixel-identical crops as the ARO-json path, row-order verification against the json,
the crop rules, bad rows naming the row, unsupported mirrors, and the Karpathy image mirrors."""

import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from mmharness.evaluate import evaluate
from mmharness.loaders.aro_hf import MirrorOptions, check_box
from mmharness.loaders.snare import SAMPLE_POS_TAGS, SAMPLE_ROOT
from mmharness.requests import MediaDecodeError
from mmharness.task import DataConfig, DataNotFoundError, TaskError
from mmharness.tasks.snare import (
    SnareAttributeOwnership,
    SnareNegationLogic,
    SnareRelationshipComposition,
    SnareSemanticStructureCoco,
    SnareSemanticStructureFlickr30k,
    SnareSpatialRelationship,
)
from mmharness.tasks.snare_mllm import SnareSpatialRelationshipMllm
from mmharness.tasks.snare_yesno import SnareDescribeVG

VG = SAMPLE_ROOT / "prerelease_bow"
BBOX = datasets.Features({k: datasets.Value("float32") for k in ("x", "y", "w", "h")})
REL_FEATURES = datasets.Features({"image": datasets.Image(), "true_caption": datasets.Value("string"),
                                  "false_caption": datasets.Value("string"), "relation_name": datasets.Value("string"),
                                  "bbox": BBOX})
ATT_FEATURES = datasets.Features({"image": datasets.Image(), "true_caption": datasets.Value("string"),
                                  "false_caption": datasets.Value("string"), "obj1_name": datasets.Value("string"),
                                  "obj2_name": datasets.Value("string"),
                                  "attributes": datasets.Sequence(datasets.Value("string")), "bbox": BBOX})


def official_root(tmp_path: Path) -> Path:
    """A copy of the bundled sample's VG files in the official layout."""
    root = tmp_path / "official"
    shutil.copytree(VG, root / "prerelease_bow")
    return root


def _image_cell(item: dict, crop: bool = False) -> dict:
    path = VG / "images" / item["image_path"]
    if not crop:
        return {"bytes": path.read_bytes(), "path": item["image_path"]}
    with Image.open(path) as im:
        x, y, w, h = (item[f"bbox_{k}"] for k in "xywh")
        c = im.convert("RGB").crop((x, y, x + w, y + h))
    buf = __import__("io").BytesIO()
    c.save(buf, "PNG")
    return {"bytes": buf.getvalue(), "path": None}


def mirror_rows(items: list[dict], relation: bool, crop: bool = False) -> dict:
    """Columns of a mirror built from official items, in the mirror's schema."""
    cols = {"image": [_image_cell(it, crop) for it in items],
            "true_caption": [it["true_caption"] for it in items], "false_caption": [it["false_caption"] for it in items],
            "bbox": [{k: it[f"bbox_{k}"] for k in "xywh"} for it in items]}
    if relation:
        cols["relation_name"] = [it["relation_name"] for it in items]
    else:
        cols.update(obj1_name=[it["obj1_name"] for it in items], obj2_name=[it["obj2_name"] for it in items],
                    attributes=[it["attributes"] for it in items])
    return cols


def write_mirror(folder: Path, cols: dict, features, shards: int = 2) -> Path:
    """``<folder>/data/test-0000i-of-0000N.parquet``, as ``push_to_hub`` lays a mirror out."""
    ds = datasets.Dataset.from_dict(cols, features=features)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        ds.shard(shards, i, contiguous=True).to_parquet(str(folder / "data" / f"test-{i:05d}-of-{shards:05d}.parquet"))
    return folder


def vg_items(name: str) -> list[dict]:
    return json.loads((VG / name).read_text())


def relation_mirror(root: Path, items=None, **kw) -> Path:
    items = vg_items("visual_genome_relation.json") if items is None else items
    return write_mirror(root / "ARO-Visual-Relation", mirror_rows(items, True, **kw), REL_FEATURES)


def attribution_mirror(root: Path, items=None) -> Path:
    items = vg_items("visual_genome_attribution.json") if items is None else items
    return write_mirror(root / "ARO-Visual-Attribution", mirror_rows(items, False), ATT_FEATURES)


def assert_same_cases(task_cls, official: Path, mirror_cfg: DataConfig, **opts):
    a, b = task_cls(**opts), task_cls(**opts)
    da, db = a.load(DataConfig(root=official)), b.load(mirror_cfg)
    assert [s.id for s in da.samples] == [s.id for s in db.samples]
    assert len(da.samples) > 0
    for sa, sb in zip(da.samples, db.samples):
        assert sa.gold == sb.gold
        for key in ("options", "group", "bbox", "item"):
            assert sa.meta.get(key) == sb.meta.get(key), key
        ia, ib = a.request(sa), b.request(sb)
        ima = (ia.image if hasattr(ia, "image") else ia.messages[-1].parts[-1]).load()
        imb = (ib.image if hasattr(ib, "image") else ib.messages[-1].parts[-1]).load()
        assert ima.size == imb.size
        assert np.array_equal(np.asarray(ima), np.asarray(imb)), sa.id
    return a, b, da, db


# --------------------------------------------------------------------------- VG-Relation


@pytest.mark.parametrize("task_cls", [SnareRelationshipComposition, SnareSpatialRelationship])
def test_relation_mirror_gives_the_json_cases_and_pixel_identical_crops(tmp_path, task_cls):
    official = official_root(tmp_path)
    mroot = tmp_path / "hf"
    relation_mirror(mroot)
    _, b, _, db = assert_same_cases(task_cls, official, DataConfig(root=mroot, source="hf"))
    info = b.config()["data"]
    assert info["data_source"] == "hf" and info["hf_dataset"] == "gowitheflow/ARO-Visual-Relation"
    assert info["hf_crop"] == "bbox" and info["row_order"].startswith("assumed")
    assert db.source.startswith("hf:parquet:") and "test-00000-of-00002.parquet" in db.source
    assert info["n_rows"] == 41 and info["expected_rows"] == 23937
    assert b.config()["hf_crop"] == "bbox" and b.config()["hf_relation"] is None


def test_rows_are_checked_against_the_official_json_when_it_is_present(tmp_path):
    official = official_root(tmp_path)
    relation_mirror(official)  # <root>/ARO-Visual-Relation next to <root>/prerelease_bow
    t = SnareRelationshipComposition()
    t.load(DataConfig(root=official, source="hf"))
    assert t.config()["data"]["row_order"] == f"verified against {official / 'prerelease_bow' / 'visual_genome_relation.json'}"
    items = vg_items("visual_genome_relation.json")
    swapped = relation_mirror(tmp_path / "swapped", [items[1], items[0], *items[2:]])  # two rows swapped
    with pytest.raises(TaskError, match=r"mirror .*swapped.*: row 0 differs from item 0 of "
                                        r".*visual_genome_relation.json in true_caption"):
        SnareRelationshipComposition(hf_relation=str(swapped)).load(DataConfig(root=official, source="hf"))


def test_mirror_given_as_a_local_folder_or_a_save_to_disk_copy(tmp_path):
    official = official_root(tmp_path)
    folder = relation_mirror(tmp_path / "elsewhere")
    _, b, _, _ = assert_same_cases(SnareSpatialRelationship, official, DataConfig(source="hf"),
                                   hf_relation=str(folder))
    assert b.config()["data"]["hf_dataset"] == str(folder) and b.config()["hf_relation"] == str(folder)
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict(mirror_rows(vg_items("visual_genome_relation.json"), True),
                               features=REL_FEATURES).save_to_disk(str(saved))
    _, c, _, dc = assert_same_cases(SnareRelationshipComposition, official, DataConfig(source="hf"),
                                    hf_relation=str(saved))
    assert dc.source == f"hf:disk:{saved}#test"


def test_mllm_and_describe_tasks_read_the_mirror_too(tmp_path):
    official = official_root(tmp_path)
    mroot = tmp_path / "hf"
    relation_mirror(mroot)
    attribution_mirror(mroot)
    assert_same_cases(SnareSpatialRelationshipMllm, official, DataConfig(root=mroot, source="hf"))
    d = SnareDescribeVG()
    data = d.load(DataConfig(root=mroot, source="hf"))
    assert len(data.samples) == 41 + 29 and data.samples[41].id == "attribution:00000"
    img = d.request(data.samples[41]).messages[0].parts[0].load()
    it = vg_items("visual_genome_attribution.json")[0]
    with Image.open(VG / "images" / it["image_path"]) as im:
        exp = im.convert("RGB").crop((it["bbox_x"], it["bbox_y"], it["bbox_x"] + it["bbox_w"],
                                      it["bbox_y"] + it["bbox_h"]))
    assert np.array_equal(np.asarray(img), np.asarray(exp))
    assert set(d.config()["data"]) == {"relation", "attribution"}


def test_results_record_the_mirror_end_to_end(tmp_path):
    mroot = tmp_path / "hf"
    relation_mirror(mroot)
    res = evaluate("oracle", "snare_relationship_composition", data_root=mroot, data_source="hf", use_cache=False,
                   progress=False, bootstrap=0, output=tmp_path / "out")
    t = res.doc["tasks"]["snare_relationship_composition"]
    assert t["metrics"]["accuracy"]["value"] == 1.0 and t["n_skipped"] == 0
    assert t["data"]["source"].startswith("hf:parquet:")
    assert t["config"]["data"]["hf_dataset"] == "gowitheflow/ARO-Visual-Relation"
    assert t["config"]["data"]["hf_crop"] == "bbox"


# --------------------------------------------------------------------------- VG-Attribution


@pytest.mark.parametrize("task_cls", [SnareNegationLogic, SnareAttributeOwnership])
def test_attribution_mirror_with_every_field_gives_the_json_cases(tmp_path, task_cls):
    official = official_root(tmp_path)
    mroot = tmp_path / "hf"
    attribution_mirror(mroot)
    _, b, _, _ = assert_same_cases(task_cls, official, DataConfig(root=mroot, source="hf"))
    assert b.config()["data"]["hf_dataset"] == "gowitheflow/ARO-Visual-Attribution"


def test_attribution_mirror_without_the_attribute_fields_is_refused(tmp_path):
    items = vg_items("visual_genome_attribution.json")
    cols = mirror_rows(items, False)
    for k in ("obj1_name", "obj2_name", "attributes"):
        del cols[k]
    feats = datasets.Features({k: v for k, v in ATT_FEATURES.items() if k in cols})
    write_mirror(tmp_path / "ARO-Visual-Attribution", cols, feats)
    with pytest.raises(TaskError, match=r"gowitheflow/ARO-Visual-Attribution cannot stand in for "
                                        r"visual_genome_attribution.json: it lacks the field\(s\) obj1_name, "
                                        r"obj2_name, attributes .*13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw"):
        SnareNegationLogic().load(DataConfig(root=tmp_path, source="hf"))


# --------------------------------------------------------------------------- bad rows and mirrors


@pytest.mark.parametrize("field, value, message", [
    ("relation_name", None, r"mirror gowitheflow/ARO-Visual-Relation: row 1: missing field 'relation_name'"),
    ("relation_name", "riding", r"row 1: unknown relation name 'riding'"),
    ("bbox", None, r"row 1: missing field 'bbox'"),
    ("bbox", {"x": 1.0, "y": None, "w": 3.0, "h": 4.0}, r"row 1: missing bbox field\(s\) y"),
    ("bbox", {"x": 1.0, "y": 2.0, "w": 0.0, "h": 4.0}, r"row 1: bbox width and height must be positive"),
    ("true_caption", None, r"row 1: missing field 'true_caption'"),
])
def test_bad_rows_name_the_mirror_and_row(tmp_path, field, value, message):
    cols = mirror_rows(vg_items("visual_genome_relation.json")[:3], True)
    cols[field][1] = value
    write_mirror(tmp_path / "ARO-Visual-Relation", cols, REL_FEATURES, shards=1)
    with pytest.raises(TaskError, match=message):
        SnareRelationshipComposition().load(DataConfig(root=tmp_path, source="hf"))


def test_a_bbox_outside_its_image_stops_with_the_row(tmp_path):
    items = vg_items("visual_genome_relation.json")[:3]
    items[2] = dict(items[2], bbox_x=10_000.0)
    relation_mirror(tmp_path, items)
    t = SnareRelationshipComposition()
    data = t.load(DataConfig(root=tmp_path, source="hf"))
    t.request(data.samples[1]).image.load()
    with pytest.raises(MediaDecodeError, match=r"row 2 of Hugging Face mirror gowitheflow/ARO-Visual-Relation "
                                               r"\[bbox x=10000 .*does not fit inside the \d+x\d+ image"):
        t.request(data.samples[2]).image.load()


def test_precropped_images_are_detected_and_hf_crop_none_reads_them(tmp_path):
    items = [it for it in vg_items("visual_genome_relation.json") if it["bbox_x"] > 0][:4]
    relation_mirror(tmp_path, items, crop=True)
    with pytest.raises(TaskError, match=r"row 0 .*look already cropped to their boxes: if so, pass "
                                        r"--task-args hf_crop=none"):
        SnareRelationshipComposition().load(DataConfig(root=tmp_path, source="hf"))
    t = SnareRelationshipComposition(hf_crop="none")
    data = t.load(DataConfig(root=tmp_path, source="hf"))
    assert t.config()["data"]["hf_crop"] == "none"
    got = t.request(data.samples[0]).image.load()
    with Image.open(VG / "images" / items[0]["image_path"]) as im:
        x, y, w, h = (items[0][f"bbox_{k}"] for k in "xywh")
        exp = im.convert("RGB").crop((x, y, x + w, y + h))
    assert np.array_equal(np.asarray(got), np.asarray(exp))
    full = tmp_path / "full"
    relation_mirror(full, items)
    with pytest.raises(TaskError, match=r"row 0 .*hf_crop=none expects the mirror's images to be the bbox crops"):
        SnareRelationshipComposition(hf_crop="none").load(DataConfig(root=full, source="hf"))


def test_bbox_slack_accepts_overhangs_and_pads_like_the_official_crop(tmp_path):
    items = vg_items("visual_genome_relation.json")[:2]
    with Image.open(VG / "images" / items[1]["image_path"]) as im:
        width = im.size[0]
    items[1] = dict(items[1], bbox_x=float(width - 10), bbox_w=12.0)  # 2 px past the right border
    relation_mirror(tmp_path, items)
    official = tmp_path / "official"
    (official / "prerelease_bow").mkdir(parents=True)
    shutil.copytree(VG / "images", official / "prerelease_bow" / "images")
    (official / "prerelease_bow" / "visual_genome_relation.json").write_text(json.dumps(items))
    strict = SnareRelationshipComposition()
    data = strict.load(DataConfig(root=tmp_path, source="hf"))
    with pytest.raises(MediaDecodeError, match=r"row 1 .*hf_bbox_slack"):
        strict.request(data.samples[1]).image.load()
    _, b, _, _ = assert_same_cases(SnareRelationshipComposition, official, DataConfig(root=tmp_path, source="hf"),
                                   hf_bbox_slack=2)
    assert b.config()["data"]["hf_bbox_slack"] == 2.0


def test_unsupported_and_misassigned_mirrors_are_refused(tmp_path):
    with pytest.raises(TaskError, match=r"yjkimstats/ARO_VG_Relation cannot stand in for visual_genome_relation.json"
                                        r": it lacks the field\(s\) bbox that .*--data-source official"):
        SnareSpatialRelationship(hf_relation="yjkimstats/ARO_VG_Relation").load(DataConfig(source="hf"))
    with pytest.raises(TaskError, match=r"mteb/ARO-Visual-Relation holds visual_genome_relation.json, not "
                                        r"visual_genome_attribution.json: pass it as hf_relation"):
        SnareNegationLogic(hf_attribution="mteb/ARO-Visual-Relation").load(DataConfig(source="hf"))
    cols = mirror_rows(vg_items("visual_genome_relation.json")[:2], True)
    del cols["bbox"]
    write_mirror(tmp_path / "ARO-Visual-Relation", cols,
                 datasets.Features({k: v for k, v in REL_FEATURES.items() if k != "bbox"}))
    with pytest.raises(TaskError, match=r"lacks the field\(s\) bbox that the SNARE tasks on this file need "
                                        r"\(it has: image, true_caption, false_caption, relation_name\)"):
        SnareRelationshipComposition().load(DataConfig(root=tmp_path, source="hf"))


def test_missing_mirror_and_bad_options(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)gowitheflow/ARO-Visual-Relation.*Offline, a hub id works only when it is in the datasets cache.*Looked locally for: "
                                                r"test-\*.parquet in .*ARO-Visual-Relation"):
        SnareRelationshipComposition().load(DataConfig(root=tmp_path, source="hf"))
    with pytest.raises(DataNotFoundError, match=r"no parquet files .* at .*nowhere"):
        SnareRelationshipComposition(hf_relation=str(tmp_path / "nowhere")).load(DataConfig(source="hf"))
    with pytest.raises(TaskError, match=r"task 'snare_spatial_relationship': option hf_crop='center' is not one of"):
        SnareSpatialRelationship(hf_crop="center")
    with pytest.raises(TaskError, match=r"hf_bbox_slack must be a number of pixels >= 0"):
        SnareNegationLogic(hf_bbox_slack=-1)
    with pytest.raises(TaskError, match=r"bundled sample is in the official format"):
        SnareNegationLogic().load(DataConfig(sample=True, source="hf"))


def test_check_box_rules():
    check_box((100, 50), (10, 5, 90, 45), "bbox", 0, "w")
    with pytest.raises(MediaDecodeError, match="does not fit"):
        check_box((100, 50), (10, 5, 91, 45), "bbox", 0, "w")
    check_box((100, 50), (10, 5, 91, 45), "bbox", 1, "w")
    with pytest.raises(MediaDecodeError, match="does not fit"):
        check_box((100, 50), (-2, 0, 10, 10), "bbox", 1, "w")
    check_box((20, 30), (7, 9, 20.4, 30), "none", 0, "w")
    with pytest.raises(MediaDecodeError, match="expects the mirror's images to be the bbox crops"):
        check_box((22, 30), (7, 9, 20.4, 30), "none", 0, "w")
    assert MirrorOptions().crop == "bbox"


# --------------------------------------------------------------------------- Karpathy image mirrors


def karpathy_root(tmp_path: Path, dataset: str) -> tuple[Path, list[dict]]:
    """The BLIP file alone (no image folder) under ``<root>/<dataset>/``."""
    name = {"coco": "coco_karpathy_test.json", "flickr30k": "flickr30k_test.json"}[dataset]
    root = tmp_path / "blip"
    (root / dataset).mkdir(parents=True)
    shutil.copy(SAMPLE_ROOT / dataset / name, root / dataset / name)
    return root, json.loads((SAMPLE_ROOT / dataset / name).read_text())


def _semantic(task_cls, dataset, **kw):
    return task_cls(pos_tagger="file", pos_tags=str(SAMPLE_POS_TAGS[dataset]), **kw)


def test_flickr_images_from_a_caption_keyed_mirror_give_the_official_cases(tmp_path):
    root, entries = karpathy_root(tmp_path, "flickr30k")
    rows = list(reversed(entries))  # the mirror's row order does not matter
    cols = {"image": [{"bytes": (SAMPLE_ROOT / "flickr30k" / e["image"]).read_bytes(), "path": None} for e in rows],
            "text": [[c + "  " for c in e["caption"]] for e in rows]}  # whitespace differences are tolerated
    write_mirror(root / "flickr30k_test", cols, datasets.Features({"image": datasets.Image(),
                                                                   "text": datasets.Sequence(datasets.Value("string"))}),
                 shards=1)
    a, b = _semantic(SnareSemanticStructureFlickr30k, "flickr30k"), _semantic(SnareSemanticStructureFlickr30k, "flickr30k")
    da, db = a.load(DataConfig(sample=True)), b.load(DataConfig(root=root, source="hf"))
    assert [(s.id, s.meta["options"]) for s in da.samples] == [(s.id, s.meta["options"]) for s in db.samples]
    assert db.samples[0].meta["row"] == len(entries) - 1
    for sa, sb in zip(da.samples, db.samples):
        assert np.array_equal(np.asarray(a.request(sa).image.load()), np.asarray(b.request(sb).image.load()))
    info = b.config()["data"]
    assert info["hf_images"] == "royokong/flickr30k_test" and info["image_match"] == "by exact caption list ('text')"
    assert info["cases_from"].endswith("flickr30k_test.json")


def test_coco_images_from_a_per_caption_mirror_matched_by_file_name(tmp_path):
    root, entries = karpathy_root(tmp_path, "coco")
    images, names, sents = [], [], []
    for e in entries:
        for c in e["caption"]:
            images.append({"bytes": (SAMPLE_ROOT / "coco" / e["image"]).read_bytes(), "path": None})
            names.append(Path(e["image"]).name)
            sents.append({"raw": c, "tokens": c.lower().split()})
    feats = datasets.Features({"image": datasets.Image(), "filename": datasets.Value("string"),
                               "sentences": {"raw": datasets.Value("string"),
                                             "tokens": datasets.Sequence(datasets.Value("string"))}})
    write_mirror(root / "MS-COCO", {"image": images, "filename": names, "sentences": sents}, feats)
    a, b = _semantic(SnareSemanticStructureCoco, "coco"), _semantic(SnareSemanticStructureCoco, "coco")
    da, db = a.load(DataConfig(sample=True)), b.load(DataConfig(root=root, source="hf"))
    assert [(s.id, s.meta["options"]) for s in da.samples] == [(s.id, s.meta["options"]) for s in db.samples]
    for sa, sb in zip(da.samples[::5], db.samples[::5]):
        assert np.array_equal(np.asarray(a.request(sa).image.load()), np.asarray(b.request(sb).image.load()))
    assert b.config()["data"]["image_match"] == "by file name ('filename'), captions checked ('sentences')"
    # a caption that differs from the BLIP entry's stops the run, naming the entry
    sents[6] = {"raw": "a different caption", "tokens": ["x"]}
    other = write_mirror(tmp_path / "other", {"image": images, "filename": names, "sentences": sents}, feats)
    with pytest.raises(TaskError, match=r"coco_karpathy_test.json: entry 1 \(image 'val2014/COCO_val2014_000000900002"
                                        r".jpg'\): the captions of Hugging Face mirror .*other row\(s\) \[5, 6, 7, 8, 9\]"
                                        r" differ from the entry's"):
        _semantic(SnareSemanticStructureCoco, "coco", hf_coco_images=str(other)).load(DataConfig(root=root, source="hf"))


def test_karpathy_mirror_errors(tmp_path):
    root, _ = karpathy_root(tmp_path, "coco")
    with pytest.raises(TaskError, match=r"yerevann/coco-karpathy cannot supply the coco Karpathy test images: it has "
                                        r"no image column"):
        _semantic(SnareSemanticStructureCoco, "coco", hf_coco_images="yerevann/coco-karpathy").load(
            DataConfig(root=root, source="hf"))
    with pytest.raises(TaskError, match=r"nlphuji/flickr_1k_test_image_text_retrieval cannot supply .*loading script"):
        _semantic(SnareSemanticStructureFlickr30k, "flickr30k",
                  hf_flickr30k_images="nlphuji/flickr_1k_test_image_text_retrieval").load(
            DataConfig(root=root, source="hf"))
    with pytest.raises(DataNotFoundError, match=r"flickr30k_test.json \(from .*no registration\)"):
        _semantic(SnareSemanticStructureFlickr30k, "flickr30k").load(DataConfig(root=root, source="hf"))
    cols = {"image": [{"bytes": (SAMPLE_ROOT / "coco" / "val2014" / "COCO_val2014_000000900001.jpg").read_bytes(),
                       "path": None}], "filename": ["COCO_val2014_000000900001.jpg"]}
    write_mirror(root / "MS-COCO", cols, datasets.Features({"image": datasets.Image(),
                                                             "filename": datasets.Value("string")}), shards=1)
    with pytest.raises(TaskError, match=r"entry 1 \(image 'val2014/COCO_val2014_000000900002.jpg'\): no row of "
                                        r"Hugging Face mirror bitmind/MS-COCO has this file name"):
        _semantic(SnareSemanticStructureCoco, "coco").load(DataConfig(root=root, source="hf"))


def test_row_table_sees_files_rewritten_at_the_same_path(tmp_path):
    """The per-process row cache is keyed by the files' size and mtime, not by the path alone."""
    import datasets

    from mmharness.loaders.hf_rows import RowTable

    f = tmp_path / "test-00000-of-00001.parquet"
    datasets.Dataset.from_dict({"caption": ["a", "b"]}).to_parquet(str(f))
    assert RowTable(f"parquet:{f}", ["caption"]).column("caption") == ["a", "b"]
    import os
    import time

    time.sleep(0.01)
    datasets.Dataset.from_dict({"caption": ["x", "y", "z"]}).to_parquet(str(f))
    os.utime(f, ns=(time.time_ns(), time.time_ns()))
    assert RowTable(f"parquet:{f}", ["caption"]).column("caption") == ["x", "y", "z"]
