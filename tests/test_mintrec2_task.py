"""MIntRec2.0 end to end: oracle = 1 on every official metric (classify, multi-turn, generate), the
`mmh run --tasks refava,mintrec2 --sample` check, scripted models against hand computations of the
in-scope, DOC and open-set metrics, generation parsing, the linear probe, media and features."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmharness.adapter import Adapter
from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.loaders import mintrec2 as mr
from mmharness.metrics.open_set import doc_fit, in_scope_metrics, open_set_metrics, sigmoid
from mmharness.metrics.probe import cross_validated_probe, linear_probe
from mmharness.requests import Batch, ClassifyOutput
from mmharness.results import load_results
from mmharness.task import DataNotFoundError, TaskError

SAMPLE = Path(mr.__file__).resolve().parent.parent / "data" / "samples" / "mintrec2"
OFFICIAL = {"acc", "weighted_f1", "weighted_prec", "rec", "f1", "prec", "oid_acc", "f1-known", "f1-open", "oid_f1"}


def run(model, task_args=None, **kw):
    kw.setdefault("use_cache", False)
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 0)
    return evaluate(model, "mintrec2", task_args=task_args or {}, **kw).doc["tasks"]["mintrec2"]


@pytest.mark.parametrize("task_args", [
    {}, {"setting": "multi_turn"}, {"protocol": "generate"}, {"protocol": "generate", "setting": "multi_turn"},
    {"split": "dev"},
])
def test_oracle_reaches_one_on_every_official_metric(task_args):
    t = run("oracle", task_args, sample=True)
    official = {m for m, meta in t["metric_metadata"].items() if meta["official"]}
    assert official == OFFICIAL
    for m in official:
        assert t["metrics"][m]["value"] == 1.0, m


def test_fixed_label_set_counts_absent_intents_as_zero():
    t = run("oracle", {"cm_labels": "fixed"}, sample=True)
    assert len(t["tables"]["open_set_confusion_matrix"]["labels"]) == 31
    present = len({r.label for r in mr.detect(SAMPLE).in_scope["test"]})
    assert t["metrics"]["f1-known"]["value"] == pytest.approx(present / 30)
    assert t["metrics"]["oid_f1"]["value"] == pytest.approx((present + 1) / 31)


@pytest.mark.slow
def test_cli_oracle_on_both_tasks_completes_and_validates(tmp_path):
    res = CliRunner().invoke(main, ["run", "--model", "oracle", "--tasks", "refava,mintrec2", "--sample",
                                    "--no-cache", "--no-progress", "--output", str(tmp_path)])
    assert res.exit_code == 0, res.output
    files = sorted(tmp_path.glob("results_*.json"))
    assert len(files) == 1
    doc = load_results(files[0])  # validates against the shipped schema
    assert set(doc["tasks"]) == {"refava", "mintrec2"}
    for name, t in doc["tasks"].items():
        assert t["data"]["kind"] == "sample"
        for m, meta in t["metric_metadata"].items():
            if meta["official"]:
                assert t["metrics"][m]["value"] == 1.0, (name, m)


class Scripted(Adapter):
    """Classify logits that are a fixed function of the transcript (tests recompute them)."""

    name = "scripted_mintrec2"

    def __init__(self, constant: float | None = None):
        super().__init__()
        self.constant = constant
        self.inputs_seen: list[dict] = []

    @staticmethod
    def logits(text: str) -> np.ndarray:
        rng = np.random.default_rng(sum(map(ord, text)) * 7919 % 2**32)
        z = 2.0 * rng.standard_normal(30)
        z[sum(map(ord, text)) % 30] += 3.0
        return z.astype(np.float32)

    def classify(self, batch: Batch) -> ClassifyOutput:
        for i, req in enumerate(batch.requests):
            self.inputs_seen.append({k: v[i] for k, v in batch.inputs.items()} | {"text": req.text,
                                                                                   "sid": batch.sample_ids[i]})
        if self.constant is not None:
            z = np.full((len(batch), 30), -self.constant, dtype=np.float32)
            for i, ref in enumerate(batch.references):
                if ref != []:
                    z[i, ref] = self.constant
            return ClassifyOutput(torch.from_numpy(z))
        return ClassifyOutput(torch.from_numpy(np.stack([self.logits(r.text) for r in batch.requests])))


def test_classify_metrics_and_doc_match_a_hand_computation():
    t = run(Scripted(), sample=True)
    d = mr.detect(SAMPLE)
    ev = d.in_scope["test"] + d.out_of_scope["test"]
    fit = d.in_scope["train"]
    Z = np.stack([Scripted.logits(r.text) for r in ev]).astype(np.float64)
    y = np.array([r.label for r in ev])
    is_ = y != 30
    ism = in_scope_metrics(y[is_], Z[is_].argmax(1))
    for k in ("acc", "weighted_f1", "weighted_prec", "rec", "f1", "prec"):
        assert t["metrics"][k]["value"] == pytest.approx(ism[k]), k
    th = doc_fit(sigmoid(np.stack([Scripted.logits(r.text) for r in fit]).astype(np.float64)),
                 np.array([r.label for r in fit]), 30, 1.0)
    P = sigmoid(Z)
    top = P.argmax(1)
    pred = np.where(P[np.arange(len(y)), top] > th.threshold[top], top, 30)
    om = open_set_metrics(y, pred, 30)
    for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
        assert t["metrics"][k]["value"] == pytest.approx(om[k]), k
    assert t["tables"]["scoring"]["rows_by_role"] == {"eval": len(ev), "fit": len(fit)}
    got = [r["threshold"] for r in t["tables"]["doc_thresholds"]["per_class"]]
    assert got == pytest.approx(th.threshold.tolist())


def test_doc_ties_rule_only_matters_for_constant_confidence():
    # gold logit 0.2 everywhere: each fitted threshold equals the probability up to rounding, which
    # for some classes rounds against acceptance; strict `>` then rejects their in-scope rows
    strict = run(Scripted(constant=0.2), {"doc_ties": "strict"}, sample=True)
    accept = run(Scripted(constant=0.2), sample=True)
    assert strict["metrics"]["oid_acc"]["value"] < 1.0
    assert accept["metrics"]["oid_acc"]["value"] == 1.0
    assert strict["metrics"]["acc"]["value"] == accept["metrics"]["acc"]["value"] == 1.0


class Saturating(Adapter):
    """Logits that saturate float32 sigmoids on the evaluated rows (see :meth:`logits`)."""

    name = "saturating_mintrec2"

    @staticmethod
    def logits(sid: str, text: str, gold: int) -> np.ndarray:
        """Train rows: the gold logit 1..4 (probabilities 0.73..0.98, thresholds below 1). Evaluated
        in-scope rows: 25 at the gold class and 18 at another one, both exactly 1.0 in float32, so the
        official argmax picks the lower index. Out-of-scope rows: 18 at one class, or nothing large."""
        h = sum(map(ord, text))
        z = np.full(30, -4.0, dtype=np.float32)
        if sid.startswith("train/"):
            z[gold] = 1.0 + h % 4
        elif gold != 30:
            other = (h * 7 + 3) % 30
            z[gold], z[other if other != gold else (gold + 1) % 30] = 25.0, 18.0
        elif h % 2:
            z[h % 30] = 18.0
        return z

    def classify(self, batch: Batch) -> ClassifyOutput:
        z = [self.logits(sid, req.text, ref if ref != [] else 30)
             for sid, req, ref in zip(batch.sample_ids, batch.requests, batch.references)]
        return ClassifyOutput(torch.from_numpy(np.stack(z)))


def test_doc_precision_float32_is_official_and_float64_is_an_option(tmp_path):
    from test_mintrec2_metrics import official_doc

    d = mr.detect(SAMPLE)
    ev = d.in_scope["test"] + d.out_of_scope["test"]
    fit = d.in_scope["train"]
    y = np.array([r.label for r in ev])
    Zf = np.stack([Saturating.logits(f"train/{r.key}", r.text, r.label) for r in fit])
    Ze = np.stack([Saturating.logits(f"test/{r.key}", r.text, r.label) for r in ev])
    yf = np.array([r.label for r in fit])
    official = official_doc(Zf, yf, Ze, 30)
    th64 = doc_fit(sigmoid(Zf.astype(np.float64)), yf, 30)
    P64 = sigmoid(Ze.astype(np.float64))
    top = P64.argmax(1)
    corrected = np.where(P64[np.arange(len(y)), top] > th64.threshold[top], top, 30)
    n_diff = int((official != corrected).sum())
    assert n_diff > 0  # the sample has rows where the saturated tie changes the prediction

    t = run(Saturating(), {"doc_ties": "strict"}, sample=True)  # default precision: float32
    assert t["config"]["doc_precision"] == "float32" and t["version"] == "2"
    assert "torch.sigmoid of the float32 logits" in t["config"]["doc_precision_meaning"]
    assert t["tables"]["scoring"]["doc_precision"] == "float32"
    assert t["tables"]["doc_thresholds"]["precision"] == "float32"
    assert t["tables"]["doc_thresholds"]["rows_predicted_otherwise_with_float64"] == n_diff
    assert any(f"{n_diff} evaluated row(s) get another open-set prediction with doc_precision=float64" in n
               for n in t["notes"])
    om = open_set_metrics(y, official, 30)
    for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
        assert t["metrics"][k]["value"] == pytest.approx(om[k], abs=1e-12), k
    rows = [r["scores"] for r in _sample_log(Saturating(), {"doc_ties": "strict"}, tmp_path) if r["scores"]["role"] == "eval"]
    assert [r["pred_open_set"] for r in rows] == official.tolist()  # row by row, in evaluation order
    assert [r["gold"] for r in rows] == y.tolist()

    t64 = run(Saturating(), {"doc_ties": "strict", "doc_precision": "float64"}, sample=True)
    assert t64["config"]["doc_precision"] == "float64" and "corrected" in t64["config"]["doc_precision_meaning"]
    assert t64["tables"]["doc_thresholds"]["rows_predicted_otherwise_with_float32"] == n_diff
    om64 = open_set_metrics(y, corrected, 30)
    for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
        assert t64["metrics"][k]["value"] == pytest.approx(om64[k], abs=1e-12), k
    assert t64["tables"]["doc_thresholds"]["per_class"][0]["threshold"] == pytest.approx(th64.threshold[0], abs=1e-15)
    # float32: an in-scope row whose other saturated class has the lower index is predicted as that
    # class, so the official open-set accuracy is lower; the in-scope metrics (argmax of the logits,
    # no sigmoid) do not depend on the DOC precision
    assert t["metrics"]["oid_acc"]["value"] < t64["metrics"]["oid_acc"]["value"]
    assert t64["metrics"]["acc"]["value"] == t["metrics"]["acc"]["value"] == 1.0
    with pytest.raises(TaskError, match="doc_precision='float16' is not one of"):
        run(Saturating(), {"doc_precision": "float16"}, sample=True)


def _sample_log(model, task_args, out):
    """Per-sample rows of a sample run (with --log-samples)."""
    res = evaluate(model, "mintrec2", task_args=task_args, sample=True, use_cache=False, progress=False,
                   bootstrap=0, log_samples=True, output=out)
    return [json.loads(line) for line in res.sample_logs["mintrec2"].read_text().splitlines()]


class Talker(Adapter):
    """Generation with a fixed answer style per utterance id parity (and a record of prompts)."""

    name = "talker"

    def __init__(self):
        super().__init__()
        self.prompts: list[str] = []

    def generate(self, batch: Batch):
        out = []
        for sid, req, ref in zip(batch.sample_ids, batch.requests, batch.references):
            self.prompts.append(req.messages[0].parts[-1])
            u = int(sid.rsplit("utt", 1)[1])
            gold = ref.split(": ", 1)[1]
            out.append({0: f"Intent: {gold.lower()}.", 1: "I am not sure.", 2: "intent: Inform"}[u % 3])
        return out


def test_generate_parses_answers_and_counts_unparsed_as_unk():
    ad = Talker()
    t = run(ad, {"protocol": "generate", "oos_instruction": "unk_option"}, sample=True)
    d = mr.detect(SAMPLE)
    ev = d.in_scope["test"] + d.out_of_scope["test"]
    y = np.array([r.label for r in ev])
    pred = np.array([{0: r.label, 1: 30, 2: 17}[r.utterance_id % 3] for r in ev])
    is_ = y != 30
    assert t["metrics"]["acc"]["value"] == pytest.approx(np.mean(pred[is_] == y[is_]))
    assert t["metrics"]["weighted_f1"]["value"] == pytest.approx(in_scope_metrics(y[is_], pred[is_])["weighted_f1"])
    assert t["metrics"]["oid_f1"]["value"] == pytest.approx(open_set_metrics(y, pred, 30)["oid_f1"])
    assert t["metrics"]["unparsed_rate"]["value"] == pytest.approx(np.mean([r.utterance_id % 3 == 1 for r in ev]))
    assert ad.prompts[0] == mr.mmla_prompt(ev[0].text) + " If the utterance expresses none of these intents, " \
                                                          "respond 'intent: UNK'."
    assert t["config"]["oos_instruction"] == "unk_option"


def test_multi_turn_passes_same_speaker_context():
    ad = Scripted()
    run(ad, {"setting": "multi_turn", "ood": False}, sample=True)
    d = mr.detect(SAMPLE)
    ctx = mr.same_speaker_context(d.total["test"])
    seen = {x["sid"].split("/")[1]: x for x in ad.inputs_seen}
    assert set(seen) == {r.key for r in d.in_scope["test"]}  # ood=false: in-scope rows only, no DOC fit
    for key, x in seen.items():
        assert x["context"] == list(ctx[key])
    assert any(len(x["context"]) >= 2 for x in seen.values())


def test_raw_media_and_feature_pickles(tmp_path):
    ad = Scripted()
    run(ad, {"modalities": "text+video+audio", "ood": False, "video_frames": 4}, sample=True)
    x = ad.inputs_seen[0]
    assert np.asarray(x["video"]).shape == (4, 48, 64, 3)
    assert np.asarray(x["audio"]).dtype == np.float32 and 14000 < np.asarray(x["audio"]).shape[0] < 18000

    with pytest.raises(TaskError, match="feature_pickles=true"):
        run("oracle", {"modalities": "text+video_feats"}, sample=True)
    root = tmp_path / "MIntRec2.0"
    shutil.copytree(SAMPLE / "in-scope", root / "in-scope")
    rows = mr.read_official_tsv(root / "in-scope" / "test.tsv", "test") + \
        mr.read_official_tsv(root / "in-scope" / "dev.tsv", "dev")
    (root / "in-scope" / "video_data").mkdir()
    feats = {r.key: np.full((3, 1, 256), r.utterance_id, dtype=np.float32) for r in rows}
    (root / "in-scope" / "video_data" / "swin_feats.pkl").write_bytes(pickle.dumps(feats))
    ad = Scripted()
    t = run(ad, {"modalities": "text+video_feats", "feature_pickles": True}, data_root=tmp_path)
    assert t["config"]["feature_pickles"] is True
    for x in ad.inputs_seen:
        assert x["video_feats"].shape == (3, 256)
        assert x["video_feats"][0, 0] == int(x["sid"].rsplit("utt", 1)[1])
    del feats[rows[0].key]
    (root / "in-scope" / "video_data" / "swin_feats.pkl").write_bytes(pickle.dumps(feats))
    with pytest.raises(TaskError, match=f"has no features for {rows[0].key}"):
        run(Scripted(), {"modalities": "text+video_feats", "feature_pickles": True}, data_root=tmp_path)


def test_missing_media_and_split_are_clear_errors(tmp_path):
    root = tmp_path / "MIntRec2.0"
    shutil.copytree(SAMPLE / "in-scope", root / "in-scope")
    with pytest.raises(DataNotFoundError, match=r"no video file for dia\d+_utt\d+"):
        run("oracle", {"modalities": "text+video"}, data_root=tmp_path)
    (root / "in-scope" / "dev.tsv").unlink()
    with pytest.raises(TaskError, match=r"probe=splits needs the dev split.*use probe=cv"):
        run("random", {"protocol": "linear_probe"}, data_root=tmp_path)
    (root / "in-scope" / "test.tsv").unlink()
    with pytest.raises(TaskError, match=r"split 'test' is not in .*splits: \['train'\]"):
        run("oracle", data_root=tmp_path)


def test_linear_probe_splits_mode_matches_a_direct_fit(tmp_path):
    res = evaluate("random", "mintrec2", model_args="dim=16", task_args={"protocol": "linear_probe"},
                   sample=True, use_cache=False, progress=False, bootstrap=0, log_samples=True, output=tmp_path)
    t = res.doc["tasks"]["mintrec2"]
    rows = {json.loads(x)["id"]: json.loads(x) for x in res.sample_logs["mintrec2"].read_text().splitlines()}
    d = mr.detect(SAMPLE)

    def xy(rs):
        return (np.stack([rows[f"{r.split}/{r.key}"]["response"]["vector"] for r in rs]).astype(np.float64),
                np.array([r.label for r in rs]))

    Xtr, ytr = xy(d.in_scope["train"])
    Xdv, ydv = xy(d.in_scope["dev"])
    ev = d.in_scope["test"] + d.out_of_scope["test"]
    Xte, yte = xy(ev)
    direct = linear_probe(Xtr, ytr, Xdv, ydv, Xte, 30, seed=0)
    is_ = yte != 30
    assert t["metrics"]["acc"]["value"] == pytest.approx(np.mean(direct.scores.argmax(1)[is_] == yte[is_]))
    assert t["tables"]["probe"]["chosen_C"] == direct.chosen_c[0]
    counts = np.bincount(ytr, minlength=30)
    assert t["metrics"]["majority_acc"]["value"] == pytest.approx(np.mean(yte[is_] == counts.argmax()))
    assert "oid_f1" in t["metrics"]  # DOC fitted on the probe's train scores


@pytest.mark.slow
def test_linear_probe_cv_mode_matches_a_direct_computation(fixtures_dir):
    t = run("random", {"protocol": "linear_probe", "probe": "cv", "split": "dev"}, model_args="dim=16",
            data_root=fixtures_dir / "mintrec2", batch_size=256)
    from mmharness.adapters.baselines import RandomAdapter

    rows = mr.read_llamafactory_json(fixtures_dir / "mintrec2" / "MIntRec2.0_dev_text_intent_llamafactory.json", "dev")
    X = RandomAdapter(dim=16).embed_text([r.text for r in rows]).numpy().astype(np.float64)
    y = np.array([r.label for r in rows])
    direct = cross_validated_probe(X, y, np.array([r.dialogue_id for r in rows]), 30, folds=5, seed=0)
    assert t["metrics"]["acc"]["value"] == pytest.approx(np.mean(direct.scores.argmax(1) == y))
    assert t["tables"]["probe"]["chosen_C_per_fold"] == direct.chosen_c
    assert t["data"]["source"].startswith("mmla_json:")
    assert "oid_acc" not in t["metrics"]  # no out-of-scope rows in the dev fixture


def test_zero_shot_prompts_follow_the_modalities():
    from mmharness.task import DataConfig
    from mmharness.tasks.mintrec2 import MIntRec2

    text_only = MIntRec2()
    s = text_only.load(DataConfig(sample=True)).samples[0]
    assert text_only.request(s).labels.templates == ("The intent of this speaker is: {c}",)
    with_video = MIntRec2(modalities="text+video")
    s = with_video.load(DataConfig(sample=True)).samples[0]
    req = with_video.request(s)
    assert req.labels.templates == ("The speaker in this video says: {text}. The intent of this speaker is: {c}",)
    assert set(req.inputs) == {"video"} and req.text == s.meta["text"]
