"""MIntRec2.0 readers: official TSV (and its bad input), the real MMLA TSV and LLaMA-Factory JSON
fixtures, the MMLA prompt verbatim, answer parsing, multi-turn context, layout detection, HF
snapshots, feature pickles."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmharness.loaders import mintrec2 as mr
from mmharness.task import DataNotFoundError, TaskError

HEADER = "Dialogue_id\tUtterance_id\tText\tLabel\tStart_timestamp\tEnd_timestamp\tSource\tspeaker_name\n"
SAMPLE = Path(mr.__file__).resolve().parent.parent / "data" / "samples" / "mintrec2"


def _tsv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_labels_match_the_fixture(fixtures_dir):
    doc = json.loads((fixtures_dir / "mintrec2" / "intent_labels.json").read_text())
    assert list(mr.INTENT_LABELS) == doc["intent_labels"] and mr.UNK_ID == doc["oos_label_id"] == 30
    assert {k: list(v) for k, v in mr.COARSE_GROUPS.items()} == doc["coarse"]


def test_official_tsv_rows(tmp_path):
    p = _tsv(tmp_path / "in-scope" / "dev.tsv", [
        "2\t0\they. don't distract jonah.\tPrevent\t0:01\t0:02\tSuperstore\tAmy",
        "2\t4\ti feel like i barely did anything my first day.\tComplain\t0:05\t0:06\tSuperstore\tJonah"])
    rows = mr.read_official_tsv(p, "dev")
    assert [(r.key, r.label, r.speaker) for r in rows] == [("dia2_utt0", 25, "Amy"), ("dia2_utt4", 9, "Jonah")]
    assert rows[0].text == "hey. don't distract jonah." and rows[0].source.endswith("dev.tsv:2")


def test_wrong_column_count_names_file_and_line(tmp_path):
    p = _tsv(tmp_path / "dev.tsv", ["2\t0\thello\tGreet\t0\t1\tS\tAmy",
                                    "2\t1\tthis row\thas a tab\tGreet\t0\t1\tS\tAmy"])
    with pytest.raises(TaskError, match=r"dev\.tsv:3: 9 tab-separated fields, expected 8"):
        mr.read_official_tsv(p, "dev")


@pytest.mark.parametrize("label", ["ask for opinions", "Apologize", "greet", "OOS"])
def test_unknown_intent_names_file_and_line(tmp_path, label):
    p = _tsv(tmp_path / "dev.tsv", ["2\t0\thello\tGreet\t0\t1\tS\tAmy", f"2\t1\tsorry\t{label}\t0\t1\tS\tAmy"])
    with pytest.raises(TaskError, match=rf"dev\.tsv:3: unknown intent '{label}'"):
        mr.read_official_tsv(p, "dev")


def test_missing_column_and_duplicate_key(tmp_path):
    p = _tsv(tmp_path / "a.tsv", ["2\t0\thello"], header="Dialogue_id\tUtterance_id\tText\n")
    with pytest.raises(TaskError, match="no column 'Label'"):
        mr.read_official_tsv(p, "dev")
    p = _tsv(tmp_path / "b.tsv", ["2\t0\thello\tGreet\t0\t1\tS\tAmy", "2\t0\tagain\tGreet\t0\t1\tS\tAmy"])
    with pytest.raises(TaskError, match="dia2_utt0 appears twice"):
        mr.read_official_tsv(p, "dev")


def test_real_mmla_tsv_and_json_fixtures_agree(fixtures_dir):
    tsv = mr.read_mmla_tsv(fixtures_dir / "mintrec2" / "in_scope_dev_from_MMLA.tsv", "dev")
    js = mr.read_llamafactory_json(fixtures_dir / "mintrec2" / "MIntRec2.0_dev_text_intent_llamafactory.json", "dev")
    assert len(tsv) == len(js) == 1106
    assert len({r.dialogue_id for r in tsv}) == 125
    assert [(r.key, r.text, r.label) for r in tsv] == [(r.key, r.text, r.label) for r in js]
    counts = np.bincount([r.label for r in js], minlength=30)
    assert counts[mr.INTENT_LABELS.index("Inform")] == 106 and counts[mr.INTENT_LABELS.index("Refuse")] == 7


def test_mmla_prompt_is_verbatim(fixtures_dir):
    records = json.loads((fixtures_dir / "mintrec2" / "MIntRec2.0_dev_text_intent_llamafactory.json").read_text())
    rows = mr.read_llamafactory_json(fixtures_dir / "mintrec2" / "MIntRec2.0_dev_text_intent_llamafactory.json", "dev")
    for rec, row in zip(records, rows):
        assert mr.mmla_prompt(row.text) == rec["conversations"][0]["value"]
        assert mr.parse_intent(rec["conversations"][1]["value"]) == row.label


@pytest.mark.parametrize("answer,expected", [
    ("intent: Prevent", 25), ("Intent: asking for opinions.", 6), ("INTENT:  [Ask for help]", 5),
    ("intent: 'Thank'\nbecause they said thanks", 28), ("Complain", 9), ("intent: UNK", 30),
    ("intent: out of scope", 30), ("The intent is unclear", None), ("intent: apologize", None), ("", None),
    ("intent: Ask for help, maybe Advise", 5),
])
def test_parse_intent(answer, expected):
    assert mr.parse_intent(answer) == expected


def test_same_speaker_context_newest_first():
    u = [mr.Utterance(7, i, t, 0, "dev", s) for i, (t, s) in enumerate(
        [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")])]
    ctx = mr.same_speaker_context(list(reversed(u)))  # input order does not matter: sorted by utterance id
    assert ctx == {"dia7_utt0": (), "dia7_utt1": (), "dia7_utt2": ("a1",), "dia7_utt3": ("a2", "a1"),
                   "dia7_utt4": ("b1",)}
    with pytest.raises(TaskError, match="speaker_name"):
        mr.same_speaker_context([mr.Utterance(1, 0, "x", 0, "dev", None, "f:2")])


def test_layout_detection(tmp_path, fixtures_dir):
    d = mr.detect(SAMPLE)
    assert d.layout == "official" and d.splits() == ["train", "dev", "test"]
    assert all(not r.in_scope for r in d.out_of_scope["test"]) and d.total["test"]
    js = mr.detect(fixtures_dir / "mintrec2")
    assert js.layout == "mmla_json" and js.splits() == ["dev"]
    mm = tmp_path / "MIntRec2.0"
    mm.mkdir()
    shutil.copy(fixtures_dir / "mintrec2" / "in_scope_dev_from_MMLA.tsv", mm / "dev.tsv")
    assert mr.detect(tmp_path).layout == "mmla_tsv"
    with pytest.raises(DataNotFoundError, match="in-scope/"):
        mr.detect(tmp_path / "MIntRec2.0", source="official")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        mr.detect(tmp_path / "nope")


def test_oos_file_must_hold_unk(tmp_path):
    _tsv(tmp_path / "in-scope" / "dev.tsv", ["1\t0\thi\tGreet\t0\t1\tS\tA"])
    _tsv(tmp_path / "out-of-scope" / "MIntRec2.0-OOD" / "dev.tsv", ["1\t1\thm\tGreet\t0\t1\tS\tA"])
    with pytest.raises(TaskError, match="out-of-scope file holds label 'Greet'"):
        mr.detect(tmp_path)


def test_hf_source_reads_a_snapshot(tmp_path, monkeypatch):
    snap = tmp_path / "snap"
    shutil.copytree(SAMPLE / "in-scope", snap / "MIntRec2.0" / "in-scope")
    calls = []

    def fake(repo_id):
        calls.append(repo_id)
        return snap

    monkeypatch.setattr(mr, "_hf_snapshot", fake)
    d = mr.detect(None, source="hf")
    assert calls == ["THU-IAR/MIntRec2.0"] and d.layout == "hf:THU-IAR/MIntRec2.0:official"

    def offline(repo_id):
        raise OSError("offline and not cached")

    monkeypatch.setattr(mr, "_hf_snapshot", offline)
    with pytest.raises(DataNotFoundError, match="THUIAR/MMLA-Datasets: OSError: offline"):
        mr.detect(None, source="hf")


def test_feature_store_is_restricted_and_squeezes(tmp_path):
    p = tmp_path / "feats.pkl"
    p.write_bytes(pickle.dumps({"dia1_utt0": np.ones((5, 1, 4)), "dia1_utt1": np.zeros((3, 4))}))
    ref = mr.FeatureRef(str(p), "dia1_utt0")
    assert ref.load().shape == (5, 4) and ref.modality == "features"
    from mmharness.requests import MediaDecodeError

    with pytest.raises(MediaDecodeError, match="no features for key dia9_utt9"):
        mr.FeatureRef(str(p), "dia9_utt9").load()

    from fractions import Fraction

    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"dia1_utt0": Fraction(1, 3)}))
    with pytest.raises(TaskError, match="fractions.Fraction, which the restricted reader"):
        mr.FeatureStore(bad).keys()
