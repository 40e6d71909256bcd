"""TableBench Visualization scoring in the sandbox: hand-written chart answers get the verdicts the
official evaluators give them (PixelWorld's and TableBench's, quirks included), and the gold chart
code passes for every chart type."""

import pytest

from mmharness.metrics import tablebench_viz as V
from mmharness.metrics.pixelworld import parse_tablebench
from mmharness.metrics.tablebench_chart import CHART_TYPES
from mmharness.sandbox import SandboxLimits, run_many

TABLE = {"columns": ["city", "population", "area"],
         "data": [["Avon", 1200, 3.5], ["Brill", 5400, 7.1], ["Cove", 800, 2.2]]}
ANSWER = "y_references = [[1200, 5400, 800]]"
HEAD = "import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('table.csv')\n"
LIMIT = 1.0  # seconds per execution (TableBench: 15)

# answer -> (pixelworld ecr@1, pass@1), (tablebench ecr@1, pass@1): what the official evaluators give
CASES = {
    "correct": (HEAD + "plt.figure()\nplt.bar(df['city'], df['population'])\nplt.show()\n", (1, 1), (1, 1)),
    "wrong data": (HEAD + "plt.figure()\nplt.bar(df['city'], df['area'])\nplt.show()\n", (1, 0), (1, 0)),
    "crashing": (HEAD + "plt.bar(df['city'], df['inhabitants'])\nplt.show()\n", (0, 0), (0, 0)),
    "non-terminating": ("import time\nwhile True:\n    time.sleep(0.01)\n", (0, 0), (0, 0)),
    # quirks of the originals, kept
    "prints something": (HEAD + "print(df)\nplt.figure()\nplt.bar(df['city'], df['population'])\n", (1, 1), (1, 0)),
    "no new figure": (HEAD + "plt.bar(df['city'], df['population'])\nplt.show()\n", (1, 1), (1, 0)),
    "main guard": ("import pandas as pd\nimport matplotlib.pyplot as plt\n\ndef main():\n"
                   "    df = pd.read_csv('table.csv')\n    plt.figure()\n    plt.bar(df['city'], df['population'])\n\n"
                   "if __name__ == '__main__':\n    main()\n", (1, 0), (1, 1)),
    "function reads a top-level name": (HEAD + "def heights():\n    return df['population']\nplt.figure()\n"
                                        "plt.bar(df['city'], heights())\n", (1, 1), (0, 0)),
    "pandas plot": (HEAD + "df.plot(kind='bar', x='city', y='population')\nplt.show()\n", (1, 1), (1, 1)),
}


def _fenced(code: str) -> str:
    return f"Here is the chart.\n```python\n{code}```\n"


def _gold_programs():
    out = []
    for ct in CHART_TYPES:
        refs = "y_references = [[3, 5, 4], [1, 2, 6]]" if ct in ("line", "radar", "scatter", "area") else \
            "y_references = [[3, 5, 4]]"
        code = V.code_for("tablebench", V.gold_chart_code(refs, ct), "")
        out.append((ct, V.build_program("tablebench", code=code, table=TABLE, answer=refs, chart_type=ct,
                                        time_limit=5)))
    return out


@pytest.fixture(scope="module")
def verdicts():
    """Every case under both evaluators plus the gold code of every chart type, in one sandbox batch."""
    programs, keys = [], []
    for name, (code, *_) in CASES.items():
        raw = _fenced(code)
        for scorer in V.SCORERS:
            programs.append(V.build_program(scorer, code=V.code_for(scorer, raw, parse_tablebench(raw)), table=TABLE,
                                            answer=ANSWER, chart_type="bar", time_limit=LIMIT))
            keys.append((name, scorer))
    for ct, prog in _gold_programs():
        programs.append(prog)
        keys.append((f"gold {ct}", "tablebench"))
    results = run_many(programs, SandboxLimits(timeout_s=2 * 5 + 10, memory_mb=2048), workers=2,
                       setup=V.sandbox_setup(), result_var=V.RESULT_VAR)
    return {k: V.verdict(r.status, r.detail, r.result) for k, r in zip(keys, results)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_hand_written_answers_get_the_official_verdicts(verdicts, name):
    _, pw, tb = CASES[name]
    for scorer, expected in (("pixelworld", pw), ("tablebench", tb)):
        v = verdicts[(name, scorer)]
        assert (int(v["ecr@1"]), int(v["pass@1"])) == expected, (name, scorer, v)


@pytest.mark.slow
def test_failures_say_why_and_the_chart_data_is_logged(verdicts):
    assert verdicts[("correct", "pixelworld")]["y_pred"] == [1200.0, 5400.0, 800.0]
    assert verdicts[("wrong data", "tablebench")]["y_pred"] == [3.5, 7.1, 2.2]
    assert verdicts[("no new figure", "tablebench")]["y_pred"] == [1200.0, 5400.0, 800.0] * 2  # run twice
    crash = verdicts[("crashing", "pixelworld")]
    assert crash["status"] == "raised" and "KeyError" in crash["detail"]
    loop = verdicts[("non-terminating", "tablebench")]
    assert loop["status"] == "raised" and "TimeoutError" in loop["detail"]
    assert verdicts[("prints something", "tablebench")]["printed"].endswith("True")  # but not only "True"


@pytest.mark.slow
@pytest.mark.parametrize("chart_type", CHART_TYPES)
def test_gold_chart_code_passes_the_tablebench_evaluator_for_every_chart_type(verdicts, chart_type):
    v = verdicts[(f"gold {chart_type}", "tablebench")]
    assert v["ecr@1"] and v["pass@1"], v


def test_official_code_extraction():
    raw = "```python\nfirst()\n```\ntext\n```python\nsecond()\n```"
    assert V.extract_code_pixelworld(raw) == "first()\n"  # the first fence
    assert V.extract_code_tablebench(raw) == "second()\n"  # the last fence
    assert V.extract_code_pixelworld("```python x = 1```") == "x = 1"  # \s* after the tag
    assert V.extract_code_tablebench("```python x = 1```") == ""  # needs a newline after the tag
    # PixelWorld parses first: text after the last "Answer:" only
    out = "```python\nplt.bar([1], [2])\n```\nFinal Answer: done"
    assert V.code_for("pixelworld", out, parse_tablebench(out)) == ""
    assert V.code_for("tablebench", out, parse_tablebench(out)) == "plt.bar([1], [2])\n"
    assert V.code_for("pixelworld", "```python\n   \n```", "```python\n   \n```") == ""  # blank code: nothing runs
    with pytest.raises(ValueError, match="unknown Visualization scorer"):
        V.code_for("vega", out, out)


def test_gold_answers_are_checked():
    V.check_reference("y_references = [[1, 2.5]]")
    V.check_reference("y_references = [[1, 2], [3, 4]]")
    with pytest.raises(ValueError, match="is not Python"):
        V.check_reference("y_references = [[1, 2]")
    with pytest.raises(ValueError, match="does not assign y_references"):
        V.check_reference("[[1, 2]]")
    assert V.reference_values("y_references = [[1, 2.5]]") == [[1, 2.5]]
    assert V.gold_chart_code("y_references = np.array([1])", None) is None  # not a literal: no gold code
    assert "plt.bar(range(3), [1200, 5400, 800])" in V.gold_chart_code(ANSWER, None)


def test_no_code_and_unfinished_programs_score_zero():
    assert V.no_code_verdict()["ecr@1"] is False and V.no_code_verdict()["status"] == "no_code"
    v = V.verdict("timeout", "killed after 25.0 s wall time", None)
    assert (v["ecr@1"], v["pass@1"], v["status"]) == (False, False, "timeout")
    assert V.verdict("passed", "", None)["status"] == "error"  # finished without a verdict
    with pytest.raises(ValueError, match="needs the question's chart type"):
        V.build_program("tablebench", code="x", table=TABLE, answer=ANSWER, chart_type=None, time_limit=1)
