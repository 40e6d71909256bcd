"""CSV rendering of a leaderboard: one row per model entry, machine-friendly (empty = missing).

Columns: position and identity of the entry, the averages with their counts and completeness, one
``family:<family>:average_score`` / ``family:<family>:n`` pair per benchmark family, then per task
``<task>:<metric>`` (the ranking metric), ``<task>:ci_low``, ``<task>:ci_high``, ``<task>:normalized``,
``<task>:rank``, ``<task>:official:<official metric>`` (the paper's headline value, also when it is
the ranking metric), ``<task>:degenerate`` (the rule that flagged the cell, empty when none),
``<task>:degenerate_reason``, ``<task>:status`` and ``<task>:results_file``.
"""

from __future__ import annotations

import csv
import io
import json

from .render_common import official_value


def render_csv(doc: dict) -> str:
    """The leaderboard as CSV text (RFC 4180, header row first)."""
    head = ["overall_rank", "model", "adapter", "args", "fingerprint", "precision", "data", "limit", "flags",
            "ranked", "excluded_reason", "average_score", "average_score_n", "average_rank", "average_rank_n",
            "n_tasks", "complete"]
    for f in doc["families"]:
        head += [f"family:{f}:average_score", f"family:{f}:n"]
    for t in doc["columns"]:
        td = doc["tasks"][t]
        head += [f"{t}:{td['metric']}", f"{t}:ci_low", f"{t}:ci_high", f"{t}:normalized", f"{t}:rank",
                 f"{t}:official:{td['official_metric']}", f"{t}:degenerate", f"{t}:degenerate_reason",
                 f"{t}:status", f"{t}:results_file"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)

    def v(x):
        return "" if x is None else x

    for m in doc["models"]:
        row = [v(m["overall_rank"]), m["label"], m["adapter"], json.dumps(m["args"], sort_keys=True),
               m["fingerprint"], m["precision"], m["data"], v(m["limit"]), ";".join(m["flags"]),
               m["ranked"], v(m["excluded_reason"]), v(m["average_score"]), m["average_score_n"],
               v(m["average_rank"]), m["average_rank_n"], m["n_tasks"], m["complete"]]
        for f in doc["families"]:
            a = m["family_averages"][f]
            row += [v(a["score"]), a["n"]]
        for t in doc["columns"]:
            c = m["cells"][t]
            ci = c.get("ci") or [None, None]
            prov = c.get("provenance") or {}
            deg = c.get("degenerate") or {}
            row += [v(c["value"]), v(ci[0]), v(ci[1]), v(c["normalized"]), v(c["rank"]),
                    v(official_value(c, doc["tasks"][t]["official_metric"])), v(deg.get("rule")),
                    v(deg.get("reason")), c["status"], v(prov.get("results_file"))]
        w.writerow(row)
    return buf.getvalue()
