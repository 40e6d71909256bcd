"""Habits from lm-evaluation-harness: its underscore spellings of mmh run's options, --limit as a
fraction of each task's samples (rounded up, lm-eval's rule), --gen-kwargs; and output files that
respect the umask. All recorded in the results."""

import json

import pytest
from click.testing import CliRunner

from mmharness.cli import main as cli
from mmharness.generation import parse_gen_kwargs
from mmharness.results import load_results
from mmharness.task import TaskError, limit_samples


def test_lm_eval_spellings_and_a_fractional_limit(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "--model", "text-only", "--model_args", "answer=B", "--tasks", "mmra_qo,mmra",
                                 "--sample", "--limit", "0.13", "--batch_size", "4", "--output_path", str(out),
                                 "--log_samples", "--no-cache", "--no-progress", "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    doc = load_results(next(out.glob("results_text-only_*.json")))
    assert doc["config"]["limit"] == 0.13 and doc["config"]["batch_size"] == 4
    assert doc["model"]["args"] == {"answer": "B"}
    # mmra's sample holds 22 items: ceil(0.13 * 22) = 3
    assert doc["tasks"]["mmra_qo"]["n_samples"] == 3 and doc["tasks"]["mmra"]["n_samples"] == 3
    assert len(next(out.glob("samples_text-only_mmra_*.jsonl")).read_text().splitlines()) == 3


def test_limit_rules():
    items = list(range(10))
    assert limit_samples(items, None) == items and limit_samples(items, 3) == [0, 1, 2]
    assert limit_samples(items, 0.25) == [0, 1, 2] and limit_samples(items, 3.0) == [0, 1, 2]
    for bad in (0, 1.5, -0.5):
        with pytest.raises(TaskError, match="--limit"):
            limit_samples(items, bad)
    r = CliRunner().invoke(cli, ["run", "--model", "oracle", "--tasks", "cifar10_b", "--sample", "--limit", "2.5",
                                 "--no-cache"])
    assert r.exit_code == 2 and "a fraction must be between 0 and 1" in r.output


def test_output_files_respect_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        r = CliRunner().invoke(cli, ["run", "--model", "oracle", "--tasks", "cifar10_b", "--sample", "--limit", "4",
                                     "--log-samples", "--no-cache", "--no-progress", "--output", str(tmp_path)])
        assert r.exit_code == 0, r.output
        modes = {p.name.split("_")[0]: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        assert modes == {"results": 0o644, "samples": 0o644}
        os.umask(0o077)
        r = CliRunner().invoke(cli, ["run", "--model", "oracle", "--tasks", "cifar10_b", "--sample", "--limit", "4",
                                     "--no-cache", "--no-progress", "--output", str(tmp_path / "private")])
        assert r.exit_code == 0, r.output
        assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "private").iterdir()} == {0o600}
    finally:
        os.umask(old)


def test_gen_kwargs_override_every_generating_task_and_key_its_cache(tmp_path):
    """--gen-kwargs reach the requests (the text-only answer is cut at the new stop string), are
    recorded, key the cache (a rerun without them recomputes), leave other tasks alone, and the
    run still verifies."""
    args = ["run", "--model", "text-only", "--model-args", "answer=A then B", "--tasks", "mmra,cifar10_b",
            "--sample", "--limit", "4", "--no-progress", "--bootstrap", "0", "--log-samples",
            "--cache-dir", str(tmp_path / "cache")]
    r = CliRunner().invoke(cli, args + ["--gen_kwargs", 'max_gen_toks=7,until=[" then"],do_sample=false',
                                        "--output", str(tmp_path / "a")])
    assert r.exit_code == 2 and "task 'cifar10_b' needs classify" in r.output  # text-only cannot classify
    args[args.index("mmra,cifar10_b")] = "mmra"
    r = CliRunner().invoke(cli, args + ["--gen-kwargs", 'max_gen_toks=7,until=[" then"],do_sample=false',
                                        "--output", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    doc = load_results(next((tmp_path / "a").glob("results_*.json")))
    assert doc["config"]["gen_kwargs"] == {"max_new_tokens": 7, "stop": [" then"], "temperature": 0.0}
    rows = [json.loads(x) for x in next((tmp_path / "a").glob("samples_*.jsonl")).read_text().splitlines()]
    assert {row["response"]["text"] for row in rows} == {"A"}  # cut at the overriding stop string
    r = CliRunner().invoke(cli, args + ["--output", str(tmp_path / "b")])
    plain = load_results(next((tmp_path / "b").glob("results_*.json")))
    assert plain["tasks"]["mmra"]["cache"] == {"hits": 0, "computed": 4}  # not the overridden answers
    assert plain["config"]["gen_kwargs"] == {}
    v = CliRunner().invoke(cli, ["results", "verify", str(next((tmp_path / "a").glob("results_*.json"))),
                                 "--cache-dir", str(tmp_path / "cache")])
    assert v.exit_code == 0, v.output
    with pytest.raises(ValueError, match="unknown setting 'beams'"):
        parse_gen_kwargs("beams=4")


def test_gen_kwargs_do_sample_takes_only_true_or_false():
    """A do_sample value that is neither true nor false is an error naming it, never silently greedy."""
    assert parse_gen_kwargs("do_sample=off") == {"temperature": 0.0}
    assert parse_gen_kwargs({"do_sample": False}) == {"temperature": 0.0}
    assert parse_gen_kwargs("do_sample=yes,temperature=0.7") == {"temperature": 0.7}
    with pytest.raises(ValueError, match=r"do_sample='ture': expected true or false"):
        parse_gen_kwargs("do_sample=ture,temperature=0.7")


def test_an_interrupt_says_what_was_kept(monkeypatch, tmp_path):
    """Ctrl-C exits 130; `mmh run` says the finished answers are cached only when a cache is used,
    and other commands do not claim a cache at all."""
    import mmharness.evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mmharness.evaluate, "evaluate", interrupted)
    args = ["run", "--model", "random", "--tasks", "mmra", "--sample", "--output", str(tmp_path)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 130 and "the answers computed so far are in the cache" in r.output
    r = CliRunner().invoke(cli, [*args, "--no-cache"])
    assert r.exit_code == 130 and r.output.strip().endswith("interrupted: nothing was kept (--no-cache)")
    monkeypatch.setattr("mmharness.cli.format_results_table", interrupted)
    r = CliRunner().invoke(cli, ["results", "table", str(tmp_path)])
    assert r.exit_code == 130 and r.output.strip().splitlines()[-1] == "interrupted"
