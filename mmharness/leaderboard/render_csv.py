"""CSV rendering of a leaderboard: one row per model entry, machine-friendly (empty = missing).

Columns: position and identity of the entry, the averages with their counts and completeness,
then per task ``<task>:<metric>``, ``<task>:ci_low``, ``<task>:ci_high``, ``<task>:normalized``,
``<task>:rank``, ``<task>:status`` and ``<task>:results_file``.
"""

from __future__ import annotations

import csv
import io
import json


def render_csv(doc: dict) -> str:
    """The leaderboard as CSV text (RFC 4180, header row first)."""
    head = ["overall_rank", "model", "adapter", "args", "fingerprint", "precision", "data", "limit", "flags",
            "ranked", "excluded_reason", "average_score", "average_score_n", "average_rank", "average_rank_n",
            "n_tasks", "complete"]
    for t in doc["columns"]:
        metric = doc["tasks"][t]["metric"]
        head += [f"{t}:{metric}", f"{t}:ci_low", f"{t}:ci_high", f"{t}:normalized", f"{t}:rank", f"{t}:status",
                 f"{t}:results_file"]
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
        for t in doc["columns"]:
            c = m["cells"][t]
            ci = c.get("ci") or [None, None]
            prov = c.get("provenance") or {}
            row += [v(c["value"]), v(ci[0]), v(ci[1]), v(c["normalized"]), v(c["rank"]), c["status"],
                    v(prov.get("results_file"))]
        w.writerow(row)
    return buf.getvalue()
