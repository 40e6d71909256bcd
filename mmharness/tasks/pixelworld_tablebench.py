"""PixelWorld TableBench: text, img and semi modes; Visualization scored by running the chart code.

The generic PixelWorld machinery (:mod:`mmharness.tasks.pixelworld`) plus what only TableBench has:

* **semi mode** (default modes ``text+img+semi``, the paper's three): the table as an image, the
  rest of the prompt as text (:func:`mmharness.loaders.tablebench.semi_prompt`); the image is the
  table drawn by :mod:`mmharness.render.table_image` on a seeded canvas. ``pixel_source=render``
  renders the ``img`` prompt locally the same way (text around the table image).
* **Visualization** (50 chart questions in TableBench): the answer is matplotlib code. With
  ``allow_code_execution=true`` each answer runs, in the execution step before scoring
  (:mod:`mmharness.execution`, cached per program), in the sandbox (:mod:`mmharness.sandbox`: a
  bubblewrap sandbox with memory/CPU/file limits, no network, a read-only Python runtime with
  this environment's site-packages, a tmpfs working directory holding ``table.csv``; with
  ``allow_code_execution=unsandboxed`` without operating-system isolation, recorded), as the official evaluator runs it (:mod:`mmharness.metrics.tablebench_viz`), and
  its chart data is compared with the gold ``y_references``. ``viz_scorers`` picks the evaluator:
  ``pixelworld`` (default; the one behind PixelWorld's published numbers: sub-task score = mean of
  ``ecr@1`` and ``pass@1``, bar heights vs ``y_references[0]``) or ``tablebench`` (TableBench's
  own: ``pass@1`` by chart type; needs the chart types, from ``tablebench_file`` -- the TableBench
  release JSONL -- or a ``chart_type`` column). Several, e.g. ``pixelworld+tablebench``: the first
  scores, the others are reported beside it (``tables.visualization``). Without the opt-in the
  Visualization rows are left out (noted) and asking for them in ``subsets`` is an error.

The TableBench score is the unweighted mean over the categories scored: FactChecking,
NumericalReasoning, DataAnalysis (ROUGE-L) and, when code execution is allowed, Visualization --
the "mean of 4" of the spec. The config records which.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from ..loaders.tablebench import ChartTypes, img_prompt, semi_prompt, split_table_prompt
from ..metrics import tablebench_chart as C
from ..metrics import tablebench_viz as V
from ..registry import register_task
from ..task import Sample, TaskError
from .pixelworld import (
    CODE_EXECUTION_OPTIONS,
    SEMI_DATASET,
    _PixelWorldBase,
    _split_list,
    code_execution_mode,
    program_outcome,
    sandbox_note,
    sandbox_record,
)

VIZ = "Visualization"
CATEGORIES = ("FactChecking", "NumericalReasoning", "DataAnalysis", "Visualization")


@register_task("pixelworld_tablebench")
class PixelWorldTableBench(_PixelWorldBase):
    """PixelWorld TableBench (TableBenchDataset): text vs img vs semi; ROUGE-L for three categories,
    Visualization by executing the chart code (opt-in); mean over the categories scored."""

    version: ClassVar[str] = "2"  # 2: semi mode, Visualization scored by execution
    dataset_cls: ClassVar[str] = SEMI_DATASET
    protocol = ("PixelWorld TableBench (Lyu, Ma & Chen, arXiv:2501.19339; data.py @ca89a7c): text vs semi vs "
                "img input; ROUGE-L (TableBench QAMetric) for FactChecking/NumericalReasoning/DataAnalysis, "
                "Visualization by executing the chart code (PixelWorld's TableBench_script evaluator, opt-in); "
                "mean over the categories")
    description = "PixelWorld TableBench: text, table-as-image (semi) and full-image input; chart code executed."
    option_meanings: ClassVar[dict[str, str]] = {
        **CODE_EXECUTION_OPTIONS,
        "allow_code_execution": CODE_EXECUTION_OPTIONS["allow_code_execution"] + "; false leaves the "
                                "Visualization rows out (noted)",
        "viz_scorers": "Visualization evaluators joined by '+', the first scores: pixelworld (PixelWorld's, behind "
                       "its published numbers) or tablebench (TableBench's own pass@1 by chart type)",
        "viz_timeout": "seconds each execution of a chart program may run",
        "tablebench_file": "the TableBench release JSONL, for the chart types the tablebench evaluator needs (else "
                           "a chart_type column)",
    }

    def __init__(self, allow_code_execution: bool | Literal["unsandboxed"] = False, viz_scorers: str = "pixelworld",
                 viz_timeout: float = 15.0, code_memory_mb: int = 2048, code_workers: int = 2,
                 tablebench_file: str | None = None, modes: str = "text+img+semi", pixel_source: str = "dataset",
                 render_preset: str = "random", render_seed: int = 0, render_font: str | None = None,
                 fallback: str = "none", fallback_seed: int = 0, subsets: str | None = None,
                 max_new_tokens_text: int | None = None, max_new_tokens_img: int | None = None,
                 profile: str = "auto"):
        from ..sandbox import parse_code_execution

        try:
            parse_code_execution(allow_code_execution)
        except ValueError as e:
            raise TaskError(f"task {self.name!r}: {e}") from None
        scorers = _split_list(viz_scorers, f"task {self.name!r}: option viz_scorers", V.SCORERS)
        if not scorers or len(set(scorers)) != len(scorers):
            raise TaskError(f"task {self.name!r}: viz_scorers={viz_scorers!r}; give one or more distinct of "
                            f"{list(V.SCORERS)} joined by '+' (the first scores)")
        if viz_timeout <= 0 or code_memory_mb < 256 or code_workers < 1:
            raise TaskError(f"task {self.name!r}: viz_timeout must be > 0, code_memory_mb >= 256, code_workers >= 1")
        self.viz_scorers = scorers
        self.viz_timeout = float(viz_timeout)
        self.code_execution = code_execution_mode(self.name, allow_code_execution)
        self.allow_code_execution = self.code_execution is not None
        if self.allow_code_execution:
            import importlib.util

            missing = [m for m in ("matplotlib", "pandas") if importlib.util.find_spec(m) is None]
            if missing:
                raise TaskError(f"task {self.name!r}: scoring Visualization runs the chart code with {missing} "
                                f"from this Python environment, which lacks them: `pip install matplotlib pandas`")
        self.chart_types = ChartTypes(tablebench_file) if tablebench_file else None
        super().__init__(modes=modes or "text+img+semi", pixel_source=pixel_source, render_preset=render_preset,
                         render_seed=render_seed, render_font=render_font, fallback=fallback,
                         fallback_seed=fallback_seed, subsets=subsets, max_new_tokens_text=max_new_tokens_text,
                         max_new_tokens_img=max_new_tokens_img, profile=profile)
        from ..sandbox import SandboxLimits

        runs = max(V.EXECUTIONS[s] for s in scorers)
        # the per-execution limit is enforced inside the program; the sandbox bounds the whole program
        self.limits = SandboxLimits(timeout_s=runs * self.viz_timeout + 10.0, memory_mb=int(code_memory_mb))
        self.code_workers = self.execution_workers = int(code_workers)
        self.executes = self.allow_code_execution  # the execution step runs the Visualization answers
        # probed once here (it may start bwrap --version), so that score only reads it
        self._isolation = sandbox_record(self.code_execution) if self.allow_code_execution else None

    def unavailable_subsets(self) -> dict[str, str]:
        """Visualization needs the code-execution opt-in."""
        if self.allow_code_execution:
            return {}
        return {VIZ: ("TableBench Visualization is scored by EXECUTING the model's chart code; it runs only with "
                      "--task-args allow_code_execution=true (in the sandbox)")}

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """Base config plus the Visualization scoring and the sandbox."""
        c = super().config()
        c["allow_code_execution"] = "unsandboxed" if self.code_execution == "unsandboxed" else self.allow_code_execution
        c["score_categories"] = [k for k in CATEGORIES if k not in self.unavailable_subsets()
                                 and (not self.subsets or k in self.subsets)]
        c["visualization"] = {
            "scored": self.allow_code_execution,
            "scorers": list(self.viz_scorers), "score_from": self.viz_scorers[0],
            "time_limit_s_per_execution": self.viz_timeout,
            "chart_types": (f"tablebench_file:{self.chart_types.source}" if self.chart_types
                            else "chart_type column (when present)")}
        if self.allow_code_execution:
            c["sandbox"] = {**self.limits.as_dict(), **self._isolation, "workers": self.code_workers,
                            "preloaded": "numpy, pandas, matplotlib (Agg backend)"}
        return c

    # ---------------------------------------------------------------- load
    def row_meta(self, where: str, subset: str, prompt: str, answer: Any, chart_type: Any) -> dict:
        """The table (for table.csv and the rendered images), the semi/img prompts and the chart type."""
        need_table = "semi" in self.modes or subset == VIZ or (self.pixel_source == "render" and "img" in self.modes)
        meta: dict = {}
        if need_table:
            try:
                tp = split_table_prompt(prompt, f"PixelWorld {where}")
            except ValueError as e:
                raise TaskError(str(e)) from None
            meta["table_json"] = json.dumps(tp.table)
            if "semi" in self.modes:
                meta["semi_prompt"] = semi_prompt(tp)
            if self.pixel_source == "render":
                meta["img_render_prompt"] = img_prompt(tp)
        if subset == VIZ:
            ct = self.chart_types.lookup(prompt, str(answer)) if self.chart_types else None
            ct = ct or (str(chart_type) if chart_type else None)
            if ct is not None and ct not in C.CHART_TYPES:
                raise TaskError(f"PixelWorld {where}: chart type {ct!r} is not one the TableBench evaluator "
                                f"knows {list(C.CHART_TYPES)}")
            if ct is None and "tablebench" in self.viz_scorers and self.allow_code_execution:
                where_from = (f"it is not in {self.chart_types.source}" if self.chart_types
                              else "the PixelWorld release has no chart types")
                raise TaskError(f"PixelWorld {where}: the tablebench evaluator needs the question's chart type and "
                                f"{where_from}. Pass tablebench_file=<TableBench JSONL file or folder> (the files of "
                                f"Multilingual-Multimodal-NLP/TableBench), or use viz_scorers=pixelworld.")
            meta["chart_type"] = ct
        return meta

    # ---------------------------------------------------------------- execution
    def item_programs(self, sample: Sample, item, parsed) -> dict:
        """A Visualization answer's chart program for each evaluator of ``viz_scorers`` that finds
        code in it (named by the evaluator), run in the sandbox; nothing for the other categories."""
        if not self.allow_code_execution or item.subset != VIZ:
            return {}
        from ..sandbox import Program

        out = {}
        for scorer in self.viz_scorers:
            code = V.code_for(scorer, item.output, parsed)
            if code:
                out[scorer] = Program(
                    V.build_program(scorer, code=code, table=json.loads(sample.meta["table_json"]),
                                    answer=str(item.answer), chart_type=sample.meta.get("chart_type"),
                                    time_limit=self.viz_timeout),
                    self.limits, setup=V.sandbox_setup(), result_var=V.RESULT_VAR,
                    sandboxed=self.code_execution == "sandboxed")
        return out

    def execution_results(self, items, parsed, samples: list[Sample], executions):
        """Every Visualization answer's verdict with each evaluator of ``viz_scorers``, from the
        outcomes of the execution step (no code found: the no-code verdict)."""
        if not self.allow_code_execution:
            return None
        idx = [k for k, it in enumerate(items) if it.subset == VIZ]
        if not idx:
            return None
        verdicts: dict[int, dict[str, dict]] = {k: {} for k in idx}
        for k in idx:
            for scorer in self.viz_scorers:
                if not V.code_for(scorer, items[k].output, parsed[k]):
                    verdicts[k][scorer] = V.no_code_verdict()
                    continue
                r = program_outcome(self.name, executions, samples[k], scorer)
                verdicts[k][scorer] = V.verdict(r.status, r.detail, r.result)
        out: list[dict | None] = [None] * len(items)
        primary = self.viz_scorers[0]
        for k in idx:
            v = verdicts[k][primary]
            out[k] = {"execution": {"scorer": primary, "ecr@1": v["ecr@1"], "pass@1": v["pass@1"]},
                      "status": v["status"], "all": verdicts[k],
                      "log": {"exec_status": v["status"], "exec_detail": v["detail"], "viz": verdicts[k]}}
        return out

    def extra_tables(self, executions: dict[str, list[dict]]) -> dict:
        """``visualization``: per mode and evaluator, ECR@1 and Pass@1 (x100) and the statuses."""
        if not executions:
            return {}
        table: dict[str, dict] = {}
        for mode, entries in executions.items():
            per: dict[str, dict] = {}
            for scorer in self.viz_scorers:
                vs = [e["all"][scorer] for e in entries]
                statuses: dict[str, int] = {}
                for v in vs:
                    statuses[v["status"]] = statuses.get(v["status"], 0) + 1
                per[scorer] = {"n": len(vs), "ECR@1": round(100 * sum(v["ecr@1"] for v in vs) / len(vs), 2),
                               "Pass@1": round(100 * sum(v["pass@1"] for v in vs) / len(vs), 2),
                               "statuses": statuses, "scores": scorer == self.viz_scorers[0]}
            table[mode] = per
        return {"visualization": table}

    def _sandbox_info(self) -> dict:
        rec = self._isolation
        return {"limits": self.limits.as_dict(), "network": rec["network"], "isolation": rec["isolation"],
                "time_limit_s_per_execution": self.viz_timeout}

    def _notes(self, scores, by_mode) -> list[str]:
        notes = super()._notes(scores, by_mode)
        present = {s.meta["subset"] for rows in by_mode.values() for s, *_ in rows}
        cats = [k for k in CATEGORIES if k in present]
        if self.allow_code_execution and VIZ in cats:
            ev = {"pixelworld": "PixelWorld's evaluator (utils/TableBench_script.py: bar heights vs "
                                "y_references[0] within 0.01; sub-task score = mean of ecr@1 and pass@1)",
                  "tablebench": "TableBench's evaluator (chart-type accessor, sorted 2-decimal comparison, code "
                                "run twice; sub-task score = pass@1)"}[self.viz_scorers[0]]
            notes.append(f"TableBench score = unweighted mean over the {len(cats)} categories scored {cats}; "
                         f"Visualization scored by executing the chart code in the sandbox with {ev}.")
            notes.append(sandbox_note(self.code_execution))
        else:
            notes.append(f"TableBench score = unweighted mean over the {len(cats)} categories scored {cats}"
                         + ("" if VIZ in cats else "; Visualization not scored (needs allow_code_execution=true), "
                            "so the score is not the paper's mean of 4") + ".")
        return notes
