"""`mmh results export` writes one tidy row per (model, task, metric) that pandas reads back;
`mmh results table` shows one row per model, whatever the number of files its runs are in."""

import pandas as pd
from click.testing import CliRunner

from mmharness.cli import main as cli
from mmharness.results import load_results


def _run(out, model, tasks, *extra):
    r = CliRunner().invoke(cli, ["run", "--model", model, *extra, "--tasks", tasks, "--sample", "--no-cache",
                                 "--no-progress", "--bootstrap", "20", "--output", str(out)])
    assert r.exit_code == 0, r.output


def test_export_is_tidy_and_table_groups_by_model(tmp_path):
    out = tmp_path / "runs"
    _run(out, "oracle", "cifar10_b")
    _run(out, "oracle", "mmra")  # the same model, another file
    _run(out, "random", "cifar10_b", "--model-args", "seed=1")
    docs = {p.name: load_results(p) for p in out.glob("results_*.json")}
    n_metrics = sum(len(t["metrics"]) for d in docs.values() for t in d["tasks"].values())
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet),
                      ("jsonl", lambda p: pd.read_json(p, lines=True))):
        target = tmp_path / f"tidy.{fmt}"
        r = CliRunner().invoke(cli, ["results", "export", str(out), "--format", fmt, "-o", str(target)])
        assert r.exit_code == 0, r.output
        df = read(target)
        assert len(df) == n_metrics and df.duplicated(["file", "task", "metric"]).sum() == 0
        acc = df[(df.model == "oracle") & (df.task == "cifar10_b") & (df.metric == "accuracy")].iloc[0]
        assert acc.value == 1.0 and acc.ci_low == 1.0 and acc.ci_high == 1.0 and acc.n_scored == 50
        assert acc.data == "sample" and acc.file.endswith(".json") and len(acc.run_id) >= 8
        primary = df[df.primary.astype(bool)]
        assert set(zip(primary.model, primary.task)) == {("oracle", "cifar10_b"), ("oracle", "mmra"),
                                                         ("random[seed=1]", "cifar10_b")}
    r = CliRunner().invoke(cli, ["results", "table", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 2 + 2  # header, rule, one row per model
    oracle = next(line for line in lines if line.startswith("oracle "))
    assert "1.0000" in oracle and "-" not in oracle.split()[2:]  # both tasks on one row


def test_by_model_keeps_each_tasks_latest_run_whatever_the_input_order():
    from mmharness.results_export import by_model

    def doc(created, value, tasks=("t",)):
        return {"created": created, "model": {"adapter": "a", "fingerprint": "f", "args": {}},
                "tasks": {t: {"data": {"kind": "full"}, "value": value} for t in tasks}}

    old, new, other = doc("2026-01-01", "old", ("t", "u")), doc("2026-02-01", "new"), doc("2026-01-15", "mid", ("u",))
    for docs in ([old, new, other], [new, other, old], [other, new, old]):
        [row] = by_model(docs)
        assert row.tasks["t"]["value"] == "new" and row.tasks["u"]["value"] == "mid"
