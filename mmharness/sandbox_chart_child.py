"""Inside the code sandbox: run model-written chart code the way each official evaluator does.

**This module is executed only inside the sandbox** (:mod:`mmharness.sandbox`): the harness ships
its source into the child process (see :mod:`mmharness.metrics.tablebench_viz`), next to
:mod:`mmharness.metrics.tablebench_chart` registered as ``chat_metric_utils``. Importing it
elsewhere is harmless (nothing runs at import), but its functions ``exec`` untrusted code and must
not be called outside the sandbox.

* :func:`run_pixelworld` -- PixelWorld's ``evaluate_visualization``: write ``table.csv``; ``exec``
  the code **once** in one namespace that plays the evaluator module's globals (``__name__`` is
  ``"TableBench_script"``, so a ``if __name__ == "__main__":`` block does not run; ``json``, ``pd``,
  ``plt``, ``re``, ``sys``, ``StringIO``, ``np`` are predefined) with stdout swallowed. An exception
  -> ``ecr@1`` and ``pass@1`` False; else ``pass@1`` = bar heights equal ``y_references[0]``
  (within 0.01, in order), any exception there -> False. The reference list is
  ``eval(answer.split("=")[-1])``.
* :func:`run_tablebench` -- TableBench's ``parse_chart_code_then_exec``: write ``table.csv``; wrap
  the code in ``if __name__ == '__main__':`` (every line indented by 4 spaces) and ``exec`` it with
  the evaluator script's globals (``__name__ == "__main__"``) and a separate locals dict, so that
  functions defined by the code do not see its top-level names -> ``ecr@1``. Then, **without
  closing the figure**, ``exec`` (same wrapping) ``from chat_metric_utils import *``, the code
  again, the reference assignment, ``chart_type="..."`` and the dispatch that prints the verdict,
  capturing stdout: ``pass@1`` is True only if the captured output, stripped, is exactly
  ``"True"`` (so anything else the code prints makes it fail, as in the original). Each ``exec``
  has its own time limit (TableBench: 15 s, raising ``TimeoutError``, an ``Exception``).

Both return a JSON-ready dict: ``ecr@1``, ``pass@1``, ``y_pred`` (the chart data read, cut to 50
values, for the logs) and ``error`` (why the code failed, if it did).
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from io import StringIO

#: the dispatch TableBench appends to the chart code (unknown chart types leave y_predictions unset)
TABLEBENCH_EVAL_CODE = """
if chart_type == 'line':
    y_predictions = get_line_y_predictions(plt)
if chart_type == 'bar':
    y_predictions = get_bar_y_predictions(plt)
if chart_type == 'hbar':
    y_predictions = get_hbar_y_predictions(plt)
if chart_type == 'pie':
    y_predictions = get_pie_y_predictions(plt)
if chart_type == 'area':
    y_predictions = get_area_y_predictions(plt)
if chart_type == 'radar':
    y_predictions = get_radar_y_predictions(plt)
if chart_type == 'scatter':
    y_predictions = get_scatter_y_predictions(plt)
if chart_type == 'waterfall':
    y_predictions = get_waterfall_y_predictions(plt)

if chart_type == 'pie':
    print(compute_pie_chart_metric(y_references, y_predictions))
else:
    print(compute_general_chart_metric(y_references, y_predictions))
"""

MAX_LOGGED = 50


def with_time_limit(fn, seconds: float):
    """Call ``fn()``; if it runs longer than ``seconds`` (wall clock), raise ``TimeoutError`` inside
    it. The sandbox's own overall timer (``SIGALRM``) is suspended meanwhile and re-armed after."""
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_left = signal.getitimer(signal.ITIMER_REAL)[0]
    t0 = time.monotonic()

    def _alarm(signum, frame):
        raise TimeoutError(f"timed out after {seconds:g} s")

    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - t0), 1e-3))


def surround_with_main(code: str) -> str:
    """TableBench's ``surround_pycode_with_main``: the stripped code, each line indented by 4
    spaces, under ``if __name__ == '__main__':``."""
    out = "\nif __name__ == '__main__':\n"
    for line in code.strip().split("\n"):
        out += f"    {line}\n"
    return out


def _loggable(values) -> list | None:
    """At most :data:`MAX_LOGGED` chart values as JSON-ready floats/strings (nested one level)."""
    if values is None:
        return None

    def conv(v):
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in list(v)[:MAX_LOGGED]]
        try:
            f = float(v)
            return f if f == f and f not in (float("inf"), float("-inf")) else str(f)
        except (TypeError, ValueError):
            return str(v)[:40]

    try:
        return [conv(v) for v in list(values)[:MAX_LOGGED]]
    except TypeError:
        return [str(values)[:40]]


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:300]


def _modules():
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import chat_metric_utils as cmu  # registered by the sandbox setup

    return np, pd, plt, cmu


def run_pixelworld(table_json: str, code: str, answer: str, time_limit: float) -> dict:
    """PixelWorld's evaluation of one chart answer (see the module docstring)."""
    np, pd, plt, cmu = _modules()
    out = {"ecr@1": False, "pass@1": False, "y_pred": None, "error": ""}
    cmu.write_table_csv(json.loads(table_json), "table.csv")
    ns = {"__name__": "TableBench_script", "__builtins__": __builtins__, "json": json, "pd": pd, "plt": plt,
          "re": re, "sys": sys, "StringIO": StringIO, "np": np}
    try:
        y_references = eval(answer.split("=")[-1], {"np": np, "json": json, "pd": pd, "plt": plt})
    except Exception as e:  # the official eval would crash the whole run
        out["error"] = "reference: " + _err(e)
        return out
    saved = sys.stdout
    sys.stdout = StringIO()
    try:
        with_time_limit(lambda: exec(code, ns), time_limit)
        out["ecr@1"] = True
    except Exception as e:  # noqa: BLE001 - the official catches Exception
        out["error"] = _err(e)
    finally:
        sys.stdout = saved
    if not out["ecr@1"]:
        plt.close("all")
        return out
    try:
        out["y_pred"] = _loggable(cmu.pw_bar_heights(plt))
        out["pass@1"] = bool(cmu.pixelworld_chart_passes(plt, y_references))
    except Exception as e:  # noqa: BLE001
        out["error"] = "comparison: " + _err(e)
    plt.close("all")
    return out


def run_tablebench(table_json: str, code: str, answer: str, chart_type: str, time_limit: float) -> dict:
    """TableBench's evaluation of one chart answer (see the module docstring)."""
    np, pd, plt, cmu = _modules()
    import os

    out = {"ecr@1": False, "pass@1": False, "y_pred": None, "error": ""}
    cmu.write_table_csv(json.loads(table_json), "table.csv")
    g = {"__name__": "__main__", "__builtins__": __builtins__, "json": json, "re": re, "os": os, "sys": sys,
         "pd": pd, "plt": plt}
    g.update({name: getattr(cmu, name) for name in cmu.__all__})
    first = surround_with_main(code)
    try:
        with_time_limit(lambda: exec(first, g, {"c": first}), time_limit)
        out["ecr@1"] = True
    except Exception as e:  # noqa: BLE001 - the official catches Exception
        out["error"] = _err(e)
    second = surround_with_main(f'from chat_metric_utils import *\n{code}\n{answer}\nchart_type="{chart_type}"\n'
                                f'{TABLEBENCH_EVAL_CODE}')
    local: dict = {"c": second}
    buf = StringIO()
    saved = sys.stdout
    sys.stdout = buf
    try:
        with_time_limit(lambda: exec(second, g, local), time_limit)
        printed = buf.getvalue()
    except Exception as e:  # noqa: BLE001
        printed = ""
        out["error"] = out["error"] or "evaluation: " + _err(e)
    finally:
        sys.stdout = saved
    out["y_pred"] = _loggable(local.get("y_predictions"))
    out["pass@1"] = printed.strip() == "True"
    out["printed"] = printed.strip()[-200:]
    plt.close("all")
    return out
