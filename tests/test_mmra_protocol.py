"""MMRA protocol pieces: official parser on hand-written outputs, prompt templates byte for byte,
and the published Overall column re-derived from per-subtask scores and counts."""

import json
import re

import numpy as np
import pytest

from mmharness.metrics.mmra import (
    is_correct,
    macro_mean,
    normalize_qa_type,
    parse_choice,
    parse_first,
    parse_official,
    parse_yes_no,
    weighted_overall,
)
from mmharness.requests import TextResponse
from mmharness.task import Sample, ScoreContext
from mmharness.tasks.mmra import MMRA, PROMPT_3, PROMPT_4, PROMPT_YES_NO, SUBTASKS, build_prompt, subtask_info


def _load(fixtures_dir, name):
    return json.loads((fixtures_dir / "mmra" / name).read_text())


def test_parser_matches_every_fixture_case(fixtures_dir):
    cases = _load(fixtures_dir, "parse_cases.json")["cases"]
    assert len(cases) == 18
    for c in cases:
        assert parse_official(c["qa_type"], c["response"]) == c["parsed"], c


@pytest.mark.parametrize("text,expected", [
    ("(A) or (B)? I pick (B).", "B"),           # B twice in parentheses
    ("A B C", "C"),                             # three-way tie -> latest first occurrence
    ("The answer is (D). D is right, A is not.", "D"),  # parentheses win over bare letters
    ("I think option b", None),                 # lower case never matches
    ("ABCD", None),                             # no word boundary inside a word
    ("A. A. B", "A"),
])
def test_choice_parser_hand_written(text, expected):
    assert parse_choice(text) == expected


def test_yes_no_counts_case_sensitively_and_keeps_casing():
    assert parse_yes_no("Yes, yes. No.") == "No"          # three singletons: the latest wins
    assert parse_yes_no("yes yes No") == "yes"
    assert parse_yes_no("Nope, not sure") is None
    assert parse_yes_no("YES") == "YES"
    assert is_correct("Yes", "YES") and not is_correct("No", None)


def test_first_letter_alternative_differs_from_official():
    text = "A dog in both; B is wrong, so B."
    assert parse_official("Choice QA", text) == "B"
    assert parse_first("Choice QA", text) == "A"
    assert normalize_qa_type("Chooice QA") == "Choice QA"
    with pytest.raises(ValueError, match="unknown QA_type"):
        normalize_qa_type("Open QA")


def test_prompt_templates_are_byte_exact():
    # the whitespace runs of the official literals (backslash continuations): 20, 20, 21, 20 and 19, 18, 19
    assert [len(m) for m in re.findall(r" {3,}", PROMPT_4)] == [20, 20, 21, 20]
    assert [len(m) for m in re.findall(r" {3,}", PROMPT_3)] == [20, 20, 21, 20]
    assert [len(m) for m in re.findall(r" {3,}", PROMPT_YES_NO)] == [19, 18, 19]
    opts = {"A": "a cup", "B": "a mug", "C": "a bowl", "D": "a plate"}
    got = build_prompt("Choice QA", "Which {object}?", opts)
    assert got == ("You will be giving one question, two images,  and four answers, one of them is correct. "
                   "Please choose one of the four answers.                    please only answer the question "
                   "with A, B, C or D.                    questions: Which {object}?                     answer:  "
                   "A: a cup  B: a mug  C: a bowl  D: a plate                    Your answer is ")
    three = build_prompt("Chooice QA", "Q?", {"A": "x", "B": "y", "C": "z"})
    assert "Please choose one of the four answers." in three and three.endswith("C: z                    Your answer is ")
    yn = build_prompt("True or false QA", "Same place?", None)
    assert yn == ('You will be giving one question and two images. Please answer the question using "Yes" or '
                  '"No".                   Please only answer the question with Yes or No.                  '
                  'questions: Same place?                   Your answer is ')


def test_subtask_names_are_read_leniently():
    assert subtask_info("Environments") == ("Env", "image")
    assert subtask_info("Environment") == ("Env", "image")
    assert subtask_info("Near Same Entity") == ("NSE", "entity")
    assert subtask_info("Mystery") == ("Mystery", "unknown")


def _table(fixtures_dir):
    d = _load(fixtures_dir, "mmra_main_results.json")
    counts = {k: v for k, v in d["subtask_counts_derived"].items() if not k.startswith("_")}
    return d["rows"], counts


def test_published_overall_is_the_sample_weighted_mean_of_subtasks(fixtures_dir):
    rows, counts = _table(fixtures_dir)
    assert len(rows) == 17 and sum(counts.values()) == 1024
    macro_off = 0
    for r in rows:
        scores = {k: r[k] for k in counts}
        assert weighted_overall(scores, counts) == pytest.approx(r["Overall"], abs=0.035), r["model"]
        macro_off += abs(macro_mean(scores) - r["Overall"]) > 0.035
    assert macro_off >= 16  # the unweighted mean over subtasks does not reproduce the column


def test_task_scoring_reproduces_published_overall(fixtures_dir):
    """Build 1,024 items with the inferred counts, answer each subtask's share correctly, and score
    them with the task: Overall (x100) lands on the published value for every row of the table."""
    rows, counts = _table(fixtures_dir)
    abbr_to_name = {abbr: name for name, (abbr, _) in SUBTASKS.items()}
    task = MMRA()
    samples = []
    for abbr, n in counts.items():
        for j in range(n):
            samples.append(Sample(id=f"{abbr}-{j}", gold="B", meta={
                "task": abbr_to_name[abbr], "abbr": abbr, "level": SUBTASKS[abbr_to_name[abbr]][1],
                "qa_type": "Choice QA"}))
    for r in rows:
        k = {a: round(r[a] * counts[a] / 100) for a in counts}
        responses = []
        seen: dict[str, int] = {}
        for s in samples:
            a = s.meta["abbr"]
            seen[a] = seen.get(a, 0) + 1
            responses.append(TextResponse("(B)" if seen[a] <= k[a] else "(C)"))
        res = task.score(samples, responses, ScoreContext(bootstrap_resamples=0))
        assert 100 * res.metrics["overall"].value == pytest.approx(r["Overall"], abs=0.04), r["model"]
        row = res.tables["leaderboard_row"]
        for a in counts:
            assert row[a] == pytest.approx(100 * k[a] / counts[a], abs=0.006)
        ent = sum(k[a] for a in ("RP", "US", "MS", "SM", "AS", "NSE")) / sum(
            counts[a] for a in ("RP", "US", "MS", "SM", "AS", "NSE"))
        assert res.metrics["entity_level"].value == pytest.approx(ent)
        assert res.metrics["macro_subtask"].value == pytest.approx(np.mean([k[a] / counts[a] for a in counts]))
