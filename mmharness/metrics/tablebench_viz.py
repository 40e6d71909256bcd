"""TableBench Visualization scoring, harness side: find the chart code, build the sandboxed
program that runs it the official way, read the verdicts back. Pure: nothing is executed here.

A Visualization answer is matplotlib code; its gold ``Answer`` is Python, ``y_references =
[[...], ...]`` (the data the chart must show). Two official evaluators (``scorer`` names):

* ``pixelworld`` -- the evaluator PixelWorld used for its published TableBench numbers
  (``utils/TableBench_script.py``): the model output goes through PixelWorld's TableBench parser
  (text after the last ``Answer:``, enclosing ``[...]`` removed), then the **first**
  ``python`` code fence (regex ``` ```python\\s*(.*?)``` ```) is run; ``ecr@1`` = it ran without
  an exception, ``pass@1`` = the bar heights of the current axes equal ``y_references[0]`` within
  0.01, in order (bar heights whatever the chart type). PixelWorld's sub-task score is the mean of
  ``ecr@1`` and ``pass@1``, x100 (``GetResult``: one dict of both, then the mean of its values).
* ``tablebench`` -- TableBench's own evaluation (``parse_chart_code_then_exec`` +
  ``chat_metric_utils``): the **last** code fence (regex ``` ```python\\n(.*?)``` ```) of the raw
  output, run twice in one process (see :mod:`mmharness.sandbox_chart_child`), chart data read by
  the accessor of the question's ``chart_type`` and compared sorted after rounding to 2 decimals;
  TableBench reports ``Pass@1`` (x100) as the Visualization score, ``ECR@1`` beside it. Needs the
  chart type of every question (not in the PixelWorld release; see
  :mod:`mmharness.loaders.tablebench`).

Where the harness differs from both originals (on purpose, for isolation): each answer runs in a
fresh sandboxed process (the originals run every answer in one process, so variables could leak from
one answer to the next); PixelWorld's evaluator has no time limit (a looping answer hangs it), here
every execution gets ``time_limit`` (TableBench's 15 s by default) and a timeout fails; an answer
that exits the interpreter (``sys.exit``) fails instead of stopping the whole evaluation; and the
sandbox guard (no network, no subprocesses, file removal and a few ``os`` calls disabled) makes
answers fail that depend on those. Answer code cannot replace the evaluator's own functions
(PixelWorld runs it in the evaluator module's globals).

:func:`build_program` returns the program text for a :class:`mmharness.sandbox.Program`;
:data:`SANDBOX_SETUP` (its ``setup``) imports numpy, pandas and matplotlib (backend ``Agg``) before
the sandbox guard and registers :mod:`mmharness.metrics.tablebench_chart` as ``chat_metric_utils``
and :mod:`mmharness.sandbox_chart_child` as ``mmh_chart_child``. The program leaves its verdict in
:data:`RESULT_VAR`.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

SCORERS = ("pixelworld", "tablebench")
#: global the sandboxed program stores its verdict in
RESULT_VAR = "__mmh_chart_result__"
#: code executions per program (the TableBench evaluator runs the code twice)
EXECUTIONS = {"pixelworld": 1, "tablebench": 2}

_PW_FENCE = re.compile(r"```python\s*(.*?)```", re.DOTALL)
_TB_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def extract_code_pixelworld(parsed_output: str) -> str:
    """PixelWorld: the body of the first ``python`` fence of the (already parsed) output, or ``""``."""
    m = _PW_FENCE.search(parsed_output)
    return m.group(1) if m else ""


def extract_code_tablebench(raw_output: str) -> str:
    """TableBench: the body of the last ```` ```python\\n ```` fence of the raw output, or ``""``."""
    found = _TB_FENCE.findall(raw_output)
    return found[-1] if found else ""


def code_for(scorer: str, raw_output: str, parsed_output: str) -> str:
    """The code ``scorer`` would run for this output (``""``: none found, nothing runs)."""
    if scorer == "pixelworld":
        code = extract_code_pixelworld(parsed_output)
        return code if code.strip() else ""
    if scorer == "tablebench":
        return extract_code_tablebench(raw_output)
    raise ValueError(f"unknown Visualization scorer {scorer!r}; expected one of {SCORERS}")


def check_reference(answer: str) -> None:
    """Raise ``ValueError`` unless ``answer`` is a gold chart answer both evaluators can use: a
    Python assignment ``y_references = <expression>``."""
    text = str(answer)
    try:
        tree = ast.parse(text)
        ast.parse(text.split("=")[-1].strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"Visualization gold answer {text[:80]!r} is not Python ({e.msg}); expected "
                         f"'y_references = [[...]]'") from None
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    if "y_references" not in names:
        raise ValueError(f"Visualization gold answer {text[:80]!r} does not assign y_references; expected "
                         f"'y_references = [[...]]'")


def reference_values(answer: str) -> Any:
    """The literal value of ``y_references`` (``None`` if it is not a plain literal)."""
    try:
        return ast.literal_eval(str(answer).split("=")[-1].strip())
    except (ValueError, SyntaxError):
        return None


def gold_chart_code(answer: str, chart_type: str | None) -> str | None:
    """Chart code that reproduces the gold data: with a known ``chart_type`` the chart the
    TableBench evaluator reads for that type; without one, bars of ``y_references[0]`` (what the
    PixelWorld evaluator reads). ``None`` when the references are not a literal list of numbers
    (lists). The code reads ``table.csv`` like a real answer and opens a new figure first."""
    refs = reference_values(answer)
    if not isinstance(refs, list) or not refs:
        return None
    series = refs if all(isinstance(s, list) for s in refs) else [refs]
    flat = [v for s in series for v in s]
    head = "import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('table.csv')\nplt.figure()\n"
    ct = chart_type
    if ct is None:
        body = f"plt.bar(range({len(series[0])}), {series[0]!r})\n"
    elif ct in ("bar", "waterfall"):
        body = f"plt.bar(range({len(flat)}), {flat!r})\n"
    elif ct == "hbar":
        body = f"plt.barh(range({len(flat)}), {flat!r})\n"
    elif ct == "pie":
        body = f"plt.pie({flat!r})\n"
    elif ct == "line":
        body = "".join(f"plt.plot({s!r})\n" for s in series)
    elif ct == "radar":
        body = "".join(f"plt.plot({s + s[:1]!r})\n" for s in series)
    elif ct == "scatter":
        body = "".join(f"plt.scatter(range({len(s)}), {s!r})\n" for s in series)
    elif ct == "area":
        body = "".join(f"plt.fill_between(range({len(s)}), {s!r})\n" for s in series)
    else:
        return None
    return "```python\n" + head + body + "plt.show()\n```"


@lru_cache(maxsize=1)
def sandbox_setup() -> str:
    """The sandbox ``setup`` shared by every chart program (see the module docstring)."""
    here = Path(__file__).resolve()
    chart_src = (here.parent / "tablebench_chart.py").read_text(encoding="utf-8")
    child_src = (here.parent.parent / "sandbox_chart_child.py").read_text(encoding="utf-8")
    return (
        "import sys, types\n"
        "import numpy, pandas\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "plt.figure()\n"
        "plt.close('all')\n"
        "def _register(name, src):\n"
        "    mod = types.ModuleType(name)\n"
        "    exec(compile(src, name + '.py', 'exec'), mod.__dict__)\n"
        "    sys.modules[name] = mod\n"
        f"_register('chat_metric_utils', {chart_src!r})\n"
        f"_register('mmh_chart_child', {child_src!r})\n"
    )


def build_program(scorer: str, *, code: str, table: dict, answer: str, chart_type: str | None,
                  time_limit: float) -> str:
    """The sandboxed program that scores one answer with ``scorer``; it stores its verdict (a dict,
    see :mod:`mmharness.sandbox_chart_child`) in :data:`RESULT_VAR`."""
    table_json = json.dumps(table)
    if scorer == "pixelworld":
        call = (f"_c.run_pixelworld(table_json={table_json!r}, code={code!r}, answer={str(answer)!r}, "
                f"time_limit={float(time_limit)!r})")
    elif scorer == "tablebench":
        if not chart_type:
            raise ValueError("the tablebench scorer needs the question's chart type")
        call = (f"_c.run_tablebench(table_json={table_json!r}, code={code!r}, answer={str(answer)!r}, "
                f"chart_type={str(chart_type)!r}, time_limit={float(time_limit)!r})")
    else:
        raise ValueError(f"unknown Visualization scorer {scorer!r}; expected one of {SCORERS}")
    return f"import mmh_chart_child as _c\n{RESULT_VAR} = {call}\n"


def verdict(status: str, detail: str, result: Any) -> dict:
    """One scored answer from a sandbox outcome: ``ecr@1``, ``pass@1``, ``status`` and ``detail``.
    A program that did not finish (timeout, killed, error) scores False on both, as the official
    evaluators score code that raises or times out."""
    if status == "passed" and isinstance(result, dict) and "ecr@1" in result:
        return {"ecr@1": bool(result["ecr@1"]), "pass@1": bool(result["pass@1"]),
                "status": "ran" if result["ecr@1"] else "raised",
                "detail": str(result.get("error", ""))[:300], "y_pred": result.get("y_pred"),
                **({"printed": result["printed"]} if result.get("printed") else {})}
    return {"ecr@1": False, "pass@1": False, "status": status if status != "passed" else "error",
            "detail": (detail or f"no verdict: {result!r}")[:300], "y_pred": None}


def no_code_verdict() -> dict:
    """The verdict for an output without a code block (nothing is executed)."""
    return {"ecr@1": False, "pass@1": False, "status": "no_code", "detail": "no ```python code block",
            "y_pred": None}
