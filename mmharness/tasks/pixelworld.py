"""PixelWorld: the same items as text tokens and as pixels; score both and the gap between them.

Protocol (``docs/protocols/pixelworld.md``; Lyu, Ma & Chen, *PixelWorld*, arXiv:2501.19339; code
``pixel_world/data.py`` at ``ca89a7c``): every item of ``TIGER-Lab/PixelWorld`` is asked twice,

* ``text`` mode: ``Text_Prompt`` (task description, fields, instructions and the answer template)
  as one text message;
* ``img`` mode: the item's image(s) followed by ``Img_Prompt`` (normally ``Please answer the
  question in the image.``), in one user message, image first as the official Qwen2-VL wrapper
  does. Only ``Images[0]`` is sent, except for Wiki-SS QA and SlidesVQA which send all images.
  ``pixel_source=render`` renders ``Text_Prompt`` locally instead (:mod:`mmharness.render.text_image`,
  seeded per item; only for datasets whose pixel input *is* the rendered prompt, and TableBench,
  whose prompt is rendered around the table image as the official ``table_img`` mode does);
* ``semi`` mode (TableBench only, on by default there): the table as an image and the rest of the
  prompt as text -- PixelWorld's ``format_prompt`` for ``semi`` (:func:`mmharness.loaders.tablebench.semi_prompt`)
  after the image. The release has no semi images: the table is drawn locally
  (:mod:`mmharness.render.table_image`, the official ``dataframe_image`` style) on a seeded canvas
  (:func:`~mmharness.render.text_image.render_text_image` with ``"<img>"``, the official call).

Parsing and metrics are identical across modes (:mod:`mmharness.metrics.pixelworld_scoring`): the
official per-dataset parsers, sub-task metrics, sub-task score = mean of its metric values,
dataset score = unweighted mean over sub-tasks. Each task reports ``score_<mode>`` and
``delta_<mode>_minus_text`` for img (and semi) (with paired-bootstrap CIs where per-item scores
exist), the unparsed rate per mode, and per-sub-task tables. Items stay paired: sample ids are
``<ID>|text``, ``<ID>|img`` (and ``<ID>|semi``).

Code execution happens only with ``allow_code_execution=true``, in the execution step before
scoring (:mod:`mmharness.execution`: the task's ``programs`` are run and each outcome cached as it
finishes; ``score`` reads the outcomes and runs nothing), in the bubblewrap sandbox of
:mod:`mmharness.sandbox` (new namespaces, read-only Python runtime, tmpfs working directory, cleared
environment, no new processes, timeout, memory/CPU/file-size limits; refused with the package to
install where bubblewrap cannot run), or with ``allow_code_execution=unsandboxed`` without
operating-system isolation (the user's choice, recorded in ``config.sandbox`` and the notes): MBPP
pass@1 (without the option the MBPP task refuses to run) and TableBench
``Visualization`` (chart code run and its chart data compared with the gold ``y_references``,
:mod:`mmharness.metrics.tablebench_viz`; without the option those rows are left out, with a note,
and the TableBench score is the mean of the other three categories).

Decoding: greedy (temperature 0). ``max_new_tokens`` by ``profile``: ``local`` -- 4096 (text) and
1024 (img, semi), the paper's Qwen2-VL settings; ``api`` -- 4096 in every mode, the paper's GPT-4o
and Gemini calls (temperature 0, ``max_tokens`` 4096). ``profile=auto`` (the default) picks ``api``
for served adapters (``openai``). ``max_new_tokens_text`` / ``max_new_tokens_img`` override either.
The official GPT-4o wrapper labels PNG bytes ``image/jpeg``; the harness sends every image with the
true MIME type of the bytes it uploads, and says so in the notes.
"""


from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np

from ..loaders.pixelworld import MAX_IMAGES, PixelWorldImages, find_pixelworld, open_pixelworld
from ..metrics.declare import Declared, Unit, declare, mean_finite, pivot_rows, score_declared, signed_macro_means
from ..metrics.degeneracy import check_generate
from ..metrics.pixelworld_scoring import (
    FALLBACKS,
    PROTOCOLS,
    DatasetProtocol,
    MathVerse,
    ScoredItem,
    dataset_score,
    subset_score,
)
from ..registry import did_you_mean, register_group, register_task
from ..render.table_image import RenderedTable, resolve_table_fonts
from ..render.text_image import PRESETS, RenderedText, RenderError, resolve_font
from ..requests import Capability, GenerateRequest, GenerationParams, ImageArray, Message, TextResponse
from ..task import (DataConfig, DataInfo, MetricSpec, MetricValue, Paper, Sample, ScoreContext, Task, TaskData,
                    TaskError, TaskResult, resolve_profile_option)

#: max_new_tokens per mode and profile: local = the paper's Qwen2-VL settings, api = its GPT-4o/Gemini calls
PROFILE_MAX_NEW_TOKENS = {"local": {"text": 4096, "img": 1024}, "api": {"text": 4096, "img": 4096}}



SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples" / "pixelworld"
MODES = ("text", "img", "semi")
#: modes compared with text (a ``delta_<mode>_minus_text`` each)
PIXEL_MODES = ("img", "semi")
PIXEL_SOURCES = ("dataset", "render")
#: datasets whose pixel-mode image is the rendered full prompt (so it can be re-rendered locally);
#: TableBench's is the prompt rendered around the table image
RENDERABLE = ("GSM8KDataset", "MMLUProDataset", "ARCDataset", "GLUEDataset", "SuperGLUEDataset", "MBPPDataset",
              "TableBenchDataset")
#: datasets whose pixel mode sends every image of the row
MULTI_IMAGE = ("WikiSS_QADataset", "SlidesVQADataset")
#: the only dataset with a ``semi`` mode
SEMI_DATASET = "TableBenchDataset"
TABLE_RENDERER = "mmharness.render.table_image (Pillow, dataframe_image style; official: dataframe_image + Chrome)"

_BASE_TEMPLATE = "Please only provide your final answer after 'Answer:'.\nPlease use the following template:\nAnswer:[TODO]"
_COT_TEMPLATE = ("Please first reason step by step, then only provide your final answer after 'Answer:'.\n"
                 "Please use the following template:\nReasoning:[TODO]\nAnswer:[TODO]")
_TB_BASE = _BASE_TEMPLATE.replace("'Answer:'", "'Final Answer:'").replace("\nAnswer:[TODO]", "\nFinal Answer:[TODO]")
_TB_COT = _COT_TEMPLATE.replace("'Answer:'", "'Final Answer:'").replace("\nAnswer:[TODO]", "\nFinal Answer:[TODO]")
_MULTIRC = re.compile(r"Paragraph: (.*?)\nQuestion: (.*?)\nCandidate Answer: ", re.S)


def detect_template(prompt: str) -> str:
    """Which answer template a ``Text_Prompt`` ends with: ``cot``, ``base`` or ``other``."""
    if _COT_TEMPLATE in prompt or _TB_COT in prompt:
        return "cot"
    if _BASE_TEMPLATE in prompt or _TB_BASE in prompt:
        return "base"
    return "other"


def _split_list(value: str | None, what: str, allowed: Sequence[str] | None = None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = tuple(v.strip() for v in re.split(r"[+|;]", str(value)) if v.strip())
    if allowed is not None:
        for v in items:
            if v not in allowed:
                raise TaskError(f"{what}: {v!r} is not one of {list(allowed)}.{did_you_mean(v, list(allowed))}")
    return items


def _stable_int(*parts: Any) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


def _specs(name: str, lo: float) -> tuple[MetricSpec, ...]:
    rng = (lo, 1.0)
    specs = [
        MetricSpec("score_text", True, rng, None, True, "fraction",
                   f"{name} score in text (token) mode: official parser and metrics, mean over sub-tasks."),
        MetricSpec("score_img", True, rng, None, True, "fraction",
                   f"{name} score in img (pixel) mode, same parser and metrics (the PEAP score)."),
        MetricSpec("delta_img_minus_text", True, (lo - 1.0, 1.0 - lo), 0.0, True, "fraction",
                   "score_img - score_text (negative: the model loses accuracy when reading pixels)."),
        MetricSpec("unparsed_rate_text", False, (0.0, 1.0), None, False, "fraction",
                   "Text mode: fraction of outputs the official parser could not map (-1), or free-text "
                   "outputs without an 'Answer:' marker."),
        MetricSpec("unparsed_rate_img", False, (0.0, 1.0), None, False, "fraction",
                   "Img mode: fraction of outputs the official parser could not map (see unparsed_rate_text)."),
    ]
    return tuple(specs)


def _semi_specs(name: str) -> tuple[MetricSpec, ...]:
    return (
        MetricSpec("score_semi", True, (0.0, 1.0), None, True, "fraction",
                   f"{name} score in semi mode (the table as an image, the question as text), same parser "
                   f"and metrics."),
        MetricSpec("delta_semi_minus_text", True, (-1.0, 1.0), 0.0, True, "fraction",
                   "score_semi - score_text (negative: the model loses accuracy when reading the table "
                   "from pixels)."),
        MetricSpec("unparsed_rate_semi", False, (0.0, 1.0), None, False, "fraction",
                   "Semi mode: fraction of outputs the official parser could not map (see unparsed_rate_text)."),
    )


_STRICT_SPECS = (
    MetricSpec("score_strict_text", True, (0.0, 1.0), None, False, "fraction",
               "Corrected MathVerse accuracy (text): an unparseable output never counts as correct."),
    MetricSpec("score_strict_img", True, (0.0, 1.0), None, False, "fraction",
               "Corrected MathVerse accuracy (img): an unparseable output never counts as correct."),
)


class _PixelWorldBase(Task):
    """One PixelWorld dataset class in text and/or pixel mode (see the module docstring)."""

    version: ClassVar[str] = "1"
    uses: ClassVar[tuple[Capability, ...]] = (Capability.GENERATE,)
    primary_metric: ClassVar[str] = "score_img"
    family: ClassVar[str] = "PixelWorld"
    dataset_cls: ClassVar[str] = ""
    option_meanings: ClassVar[dict[str, str]] = {
        "modes": "input modes, joined by '+': text (Text_Prompt as text), img (the pixel input, then Img_Prompt), "
                 "semi (TableBench only: the table as an image, the question as text); the primary metric is "
                 "score_img, else score_semi, else score_text",
        "pixel_source": "img-mode pixels: dataset (the release's images) or render (Text_Prompt rendered locally; "
                        "only where the pixel input is the rendered prompt, and TableBench)",
        "render_preset": "renderer settings (pixel_source=render, the semi canvas): random (the release's noisy "
                         "style, drawn per item) or no_random (512 px wide, 15 px font, no noise)",
        "render_seed": "seed of the renderer's per-item draws",
        "render_font": "font file of the renderer; none = FreeSans (the official font), builtin = Pillow's own",
        "fallback": "unparseable answers: none (scored as wrong) or random (the official GLUE / MultiRC random "
                    "fill, seeded with fallback_seed)",
        "fallback_seed": "seed of fallback=random",
        "subsets": "sub-tasks to evaluate, joined by '+'; none = all (the dataset score is their mean)",
        "max_new_tokens_text": "generation limit in text mode; none = the profile's (4096)",
        "max_new_tokens_img": "generation limit in img (and semi) mode; none = the profile's (local 1024, api 4096)",
        "profile": "generation profile: auto (api for served models such as openai, else local), local (the "
                   "paper's Qwen2-VL settings) or api (its GPT-4o / Gemini calls: 4096 new tokens in every mode)",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="lyu2025pixelworld", title="PixelWorld: Towards Perceiving Everything as Pixels",
        authors=("Zhiheng Lyu", "Xueguang Ma", "Wenhu Chen"), year=2025, venue="arXiv preprint", kind="misc",
        arxiv="2501.19339", repository="https://github.com/TIGER-AI-Lab/PixelWorld", commit="ca89a7c",
        note="v3 (Oct 2025) is retitled 'PixelWorld: How Far Are We from Perceiving Everything as Pixels?'; a "
             "TMLR 2025 publication is reported but unverified; the protocol follows pixel_world/data.py")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="The Hugging Face release TIGER-Lab/PixelWorld (about 313 GB; images inside the parquet rows): the "
               "task's dataset class as <Class>-*.parquet files (the per-class splits, e.g. GSM8KDataset-*.parquet) "
               "or the first upload's train-*.parquet (rows selected by the Dataset column), under --data-root or "
               "its PixelWorld/, pixelworld/, TIGER-Lab___PixelWorld/ or TIGER-Lab/PixelWorld/ folder (or their "
               "data/); or a datasets.save_to_disk folder or hub cache snapshot there, or the hub id itself "
               "(offline: from the local HF cache).",
        source="https://huggingface.co/datasets/TIGER-Lab/PixelWorld; one class at a time, e.g. `huggingface-cli "
               "download TIGER-Lab/PixelWorld --repo-type dataset --include 'data/GSM8KDataset-*' --local-dir "
               "<root>/PixelWorld`",
        sample_note="46 generated rows, one parquet file per dataset class (mmharness/data/samples/pixelworld/)")

    @classmethod
    def default_metric_specs(cls) -> tuple[MetricSpec, ...]:
        """This dataset's metrics (they depend on the dataset class only): score, text-vs-pixel delta and
        unparsed rate per mode; MathVerse adds the corrected strict scores, TableBench the semi mode."""
        proto = PROTOCOLS[cls.dataset_cls]
        lo = -1.0 if cls.dataset_cls == "GLUEDataset" else 0.0
        extra = _STRICT_SPECS if isinstance(proto, MathVerse) else ()
        semi = _semi_specs(proto.name) if cls.dataset_cls == SEMI_DATASET else ()
        return _specs(proto.name, lo) + extra + semi

    def __init__(self, modes: str = "text+img", pixel_source: str = "dataset", render_preset: str = "random",
                 render_seed: int = 0, render_font: str | None = None, fallback: str = "none",
                 fallback_seed: int = 0, subsets: str | None = None, max_new_tokens_text: int | None = None,
                 max_new_tokens_img: int | None = None, profile: str = "auto"):
        self.protocol_obj: DatasetProtocol = PROTOCOLS[self.dataset_cls]
        self.modes = _split_list(modes, f"task {self.name!r}: option modes", MODES) or ("text", "img")
        if "semi" in self.modes and self.dataset_cls != SEMI_DATASET:
            raise TaskError(f"task {self.name!r}: the 'semi' mode (the table as an image, the question as text) "
                            f"exists only for TableBench (pixelworld_tablebench); use modes=text+img")
        if pixel_source not in PIXEL_SOURCES:
            raise TaskError(f"task {self.name!r}: pixel_source={pixel_source!r}; expected one of {list(PIXEL_SOURCES)}")
        if pixel_source == "render" and self.dataset_cls not in RENDERABLE:
            raise TaskError(f"task {self.name!r}: pixel_source=render is only possible where the pixel input is "
                            f"the rendered prompt ({', '.join(RENDERABLE)}); {self.dataset_cls} sends other images")
        if render_preset not in PRESETS:
            raise TaskError(f"task {self.name!r}: render_preset={render_preset!r}; expected one of {list(PRESETS)}")
        if fallback not in FALLBACKS:
            raise TaskError(f"task {self.name!r}: fallback={fallback!r}; expected one of {list(FALLBACKS)}")
        if any(v is not None and v < 1 for v in (max_new_tokens_text, max_new_tokens_img)):
            raise TaskError(f"task {self.name!r}: max_new_tokens_text/img must be >= 1")
        self.pixel_source = pixel_source
        self.render_preset = render_preset
        self.render_seed = int(render_seed)
        self.render_font = render_font
        if (pixel_source == "render" and "img" in self.modes) or "semi" in self.modes:
            try:
                self._font_path = resolve_font(render_font)
                if self.dataset_cls == SEMI_DATASET:
                    self._table_fonts = resolve_table_fonts(render_font)
            except RenderError as e:
                raise TaskError(f"task {self.name!r}: {e}") from None
        self.fallback = fallback
        self.fallback_seed = int(fallback_seed)
        self.subsets = _split_list(subsets, f"task {self.name!r}: option subsets", self.protocol_obj.subsets)
        for s in self.subsets:
            if s in self.unavailable_subsets():
                raise TaskError(f"task {self.name!r}: {self.unavailable_subsets()[s]}; leave {s} out of subsets")
        self.profile_option = profile
        self._max_new_tokens_options = {"text": max_new_tokens_text, "img": max_new_tokens_img}
        self.resolve_profile(served=False)  # evaluate() resolves it again for the adapter in use
        self.primary_metric = next(f"score_{m}" for m in ("img", "semi", "text") if m in self.modes)
        self._table = None
        self._images = None
        self._excluded: dict[str, int] = {}

    def resolve_profile(self, served: bool) -> None:
        """Max new tokens per mode from the profile (:data:`PROFILE_MAX_NEW_TOKENS`); explicit
        ``max_new_tokens_text`` / ``max_new_tokens_img`` win."""
        self.profile = resolve_profile_option(self.name, self.profile_option, served)
        base = PROFILE_MAX_NEW_TOKENS[self.profile]
        self.max_new_tokens = {m: int(self._max_new_tokens_options[m] or base[m]) for m in ("text", "img")}
        if "semi" in self.modes:  # sent through the vision path in the official code
            self.max_new_tokens["semi"] = self.max_new_tokens["img"]

    def unavailable_subsets(self) -> dict[str, str]:
        """Sub-tasks this configuration cannot score -> why (left out at load, refused in ``subsets``)."""
        return {}

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """Everything that changes prompts or scores (recorded in results)."""
        c = {"dataset": self.dataset_cls, "modes": list(self.modes), "pixel_source": self.pixel_source,
             "render": ({"preset": self.render_preset, "seed": self.render_seed,
                         "font": getattr(self, "_font_path", self.render_font)}
                        if self.pixel_source == "render" else None),
             "fallback": self.fallback, "fallback_seed": self.fallback_seed if self.fallback == "random" else None,
             "subsets": list(self.subsets) or None, "profile": self.profile,
             "max_new_tokens": dict(self.max_new_tokens), "decoding": "greedy", "temperature": 0.0,
             "image_position": "before text",
             "official_template": self.protocol_obj.official_template}
        if "semi" in self.modes:
            c["semi"] = {"table_renderer": TABLE_RENDERER, "table_fonts": list(self._table_fonts),
                         "canvas": {"preset": self.render_preset, "seed": self.render_seed, "font": self._font_path},
                         "prompt": "PixelWorld format_prompt(mode='semi'): text without the table + "
                                   "'Read the table in the image'"}
        return c

    def cache_config(self) -> dict:
        """Prompt-side options only (fallback and scoring options do not change responses)."""
        c = self.config()
        return {k: c[k] for k in ("dataset", "pixel_source", "render", "max_new_tokens", "semi") if k in c}

    def metric_spec(self, name: str) -> MetricSpec:
        """The task's metric specs (GLUE's range includes negative correlations)."""
        lo = -1.0 if self.dataset_cls == "GLUEDataset" else 0.0
        for m in _specs(self.protocol_obj.name, lo) + _STRICT_SPECS + _semi_specs(self.protocol_obj.name):
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def metric_specs(self) -> tuple[MetricSpec, ...]:  # type: ignore[override]
        return type(self).default_metric_specs()

    # ---------------------------------------------------------------- load
    def load(self, data: DataConfig) -> TaskData:
        """Read this dataset's rows (bundled sample, files under ``--data-root``, or the hub) and make
        one sample per (row, mode)."""
        if data.sample:
            files = sorted(SAMPLE_DIR.glob(f"data/{self.dataset_cls}-*.parquet"))
            if not files:
                raise TaskError(f"task {self.name!r}: no bundled sample for {self.dataset_cls}")
            table = open_pixelworld("parquet:" + "|".join(str(f) for f in files), self.dataset_cls)
        else:
            table = find_pixelworld(data.root, self.dataset_cls, data.source)
        cols = {c: table.column(c) for c in ("ID", "Subset", "Text_Prompt", "Img_Prompt", "Image_Pathes",
                                              "Answer", "Code", "chart_type")}
        proto = self.protocol_obj
        wanted = set(self.subsets) if self.subsets else None
        not_impl = self.unavailable_subsets()
        samples: list[Sample] = []
        seen: set[str] = set()
        excluded: dict[str, int] = {}
        for i in range(len(table)):
            where = table.describe(i)
            subset = cols["Subset"][i]
            if subset not in proto.subsets:
                raise TaskError(f"PixelWorld {where}: Subset {subset!r} is not a {proto.name} sub-task "
                                f"{list(proto.subsets)}")
            if subset in not_impl or (wanted is not None and subset not in wanted):
                excluded[subset] = excluded.get(subset, 0) + 1
                continue
            for col in ("Text_Prompt", "Answer"):
                if cols[col][i] is None:
                    raise TaskError(f"PixelWorld {where}: column {col!r} is empty")
            try:
                proto.gold(subset, cols["Answer"][i])
            except ValueError as e:
                raise TaskError(f"PixelWorld {where}: {e}") from None
            item = str(cols["ID"][i]) if cols["ID"][i] not in (None, "") else f"row{i:06d}"
            if item in seen:
                item = f"{item}#row{i}"
            seen.add(item)
            prompt = cols["Text_Prompt"][i]
            group = None
            if self.dataset_cls == "SuperGLUEDataset" and subset == "multirc":
                m = _MULTIRC.search(prompt)
                group = hashlib.sha256((m.group(1) + "\x1f" + m.group(2)).encode()).hexdigest()[:16] if m else None
            meta = {"row": i, "item": item, "subset": subset, "text_prompt": prompt,
                    "img_prompt": cols["Img_Prompt"][i] or "Please answer the question in the image.",
                    "template": detect_template(prompt), "group": group, "code": cols["Code"][i]}
            meta.update(self.row_meta(where, subset, prompt, cols["Answer"][i], cols["chart_type"][i]))
            for mode in self.modes:
                samples.append(Sample(id=f"{item}|{mode}", gold=cols["Answer"][i], meta={**meta, "mode": mode}))
        if not samples:
            raise TaskError(f"task {self.name!r}: no rows left at {table.location} after selecting subsets "
                            f"{list(self.subsets) or 'all'} (excluded: {excluded})")
        self._table = table
        self._images = PixelWorldImages(table)
        self._excluded = excluded
        h = hashlib.sha256(table.fingerprint.encode())
        for s in samples:
            h.update(f"{s.id}\x1f{s.meta['text_prompt']}\x1f{s.gold}\x1e".encode())
        return TaskData(samples=samples, fingerprint=h.hexdigest()[:20],
                        source="sample" if data.sample else table.location,
                        kind="sample" if data.sample else "full")

    def row_meta(self, where: str, subset: str, prompt: str, answer: Any, chart_type: Any) -> dict:
        """Dataset-specific per-row fields added to every sample's ``meta`` (validated at load)."""
        return {}

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> GenerateRequest:
        """Text mode: ``[Text_Prompt]``; img mode: ``[image(s)..., Img_Prompt]``; semi mode (TableBench):
        ``[table image, semi prompt]``. Greedy decoding. ``reference`` is a response the official
        parser maps to the gold answer (for ``oracle``)."""
        if self._images is None:
            raise TaskError(f"task {self.name!r}: call load() before request()")
        m = sample.meta
        mode = m["mode"]
        name = f"PixelWorld {self.dataset_cls} item {m['item']}"
        if mode == "text":
            parts: list[Any] = [m["text_prompt"]]
        elif mode == "semi":
            parts = [RenderedTable("<img>", m["table_json"], seed=_stable_int(self.render_seed, m["item"], "semi"),
                                   preset=self.render_preset, font=self.render_font, table_font=self.render_font,
                                   name=f"{name} (semi: table)"),
                     m["semi_prompt"]]
        elif self.pixel_source == "render" and self.dataset_cls == SEMI_DATASET:
            parts = [RenderedTable(m["img_render_prompt"], m["table_json"],
                                   seed=_stable_int(self.render_seed, m["item"]), preset=self.render_preset,
                                   font=self.render_font, table_font=self.render_font, name=name),
                     m["img_prompt"]]
        elif self.pixel_source == "render":
            parts = [RenderedText(m["text_prompt"], seed=_stable_int(self.render_seed, m["item"]),
                                  preset=self.render_preset, font=self.render_font, name=name),
                     m["img_prompt"]]
        else:
            n = self._n_images(m["row"])
            parts = [ImageArray(self._images, m["row"] * MAX_IMAGES + k) for k in range(n)] + [m["img_prompt"]]
        ref = self.protocol_obj.reference_response(m["subset"], sample.gold,
                                                   {"code": m.get("code"), "chart_type": m.get("chart_type")})
        return GenerateRequest(messages=[Message("user", parts)],
                               params=GenerationParams(max_new_tokens=self.max_new_tokens[mode]), reference=ref)

    def _n_images(self, row: int) -> int:
        if self.dataset_cls not in MULTI_IMAGE:
            return 1
        cells = self._table.cell(row, "Images") or []
        return max(1, min(len(cells), MAX_IMAGES))

    # ---------------------------------------------------------------- execution step
    def programs(self, sample: Sample, response: Any) -> dict:
        """The programs of the datasets scored by running code (MBPP, TableBench Visualization),
        built from the parsed response (:meth:`item_programs`); none elsewhere."""
        if not self.executes or not isinstance(response, TextResponse):
            return {}
        item = ScoredItem(subset=sample.meta["subset"], output=response.text, answer=sample.gold,
                          group=sample.meta.get("group"))
        return self.item_programs(sample, item, self.protocol_obj.parse(item.subset, response.text))

    def item_programs(self, sample: Sample, item: ScoredItem, parsed: Any) -> dict:
        """Name -> :class:`mmharness.sandbox.Program` for one parsed item (default: none)."""
        return {}

    # ---------------------------------------------------------------- score
    def execution_results(self, items: list[ScoredItem], parsed: list[Any], samples: list[Sample],
                          executions: Mapping[str, Mapping[str, Any]]) -> list[dict | None] | None:
        """Hook for datasets whose metric executes code (MBPP, TableBench Visualization); None elsewhere.

        Reads the outcomes of the execution step (``executions``: sample id -> program name ->
        :class:`~mmharness.sandbox.ExecResult`, from ``ScoreContext.executions``) and runs nothing.
        Returns one entry per item: None (nothing executed) or a dict with ``status`` (counted in
        ``tables.code_execution``), ``log`` (merged into the item's per-sample record) and
        ``passed`` (MBPP) or ``execution`` (TableBench: the verdict that scores the item); it may
        also carry ``all`` (every evaluator's verdict, see :meth:`extra_tables`)."""
        return None

    def extra_tables(self, executions: dict[str, list[dict]]) -> dict:
        """Extra result tables from the execution entries of each mode (default: none)."""
        return {}

    #: items are the resampling unit: one row per item, one column per input mode (``score@img``)
    resample_unit: ClassVar[Unit] = Unit(key="item", spread="mode", spread_fields=("score", "unparsed"),
                                          shared_fields=("subset",))

    def declared_metrics(self) -> tuple[Declared, ...]:
        """Per mode: ``unparsed_rate_<mode>`` (mean of the item's ``unparsed``); where the protocol's
        score decomposes into item scores, ``score_<mode>`` (mean over sub-tasks of the mean item
        ``score``: the official value, which the aggregate reproduces) and ``delta_<mode>_minus_text``
        (the same, paired over the items answered in both modes)."""
        aggs = {}
        order = list(self.protocol_obj.subsets)
        if self.protocol_obj.decomposable:
            for m in self.modes:
                aggs[f"score_{m}"] = signed_macro_means([(f"score@{m}", 1.0)], "subset", order)
            for pm in PIXEL_MODES:
                if pm in self.modes and "text" in self.modes:
                    aggs[f"delta_{pm}_minus_text"] = signed_macro_means(
                        [(f"score@{pm}", 1.0), ("score@text", -1.0)], "subset", order)
        for m in self.modes:
            aggs[f"unparsed_rate_{m}"] = mean_finite(f"unparsed@{m}")
        return declare(self.metric_specs, **aggs)

    def score(self, samples: Sequence[Sample], responses: Sequence[Any], ctx: ScoreContext) -> TaskResult:
        """Parse, score per sub-task and mode, aggregate, compare modes (see the module docstring)."""
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        proto = self.protocol_obj
        by_mode: dict[str, list[tuple[Sample, ScoredItem, Any, bool]]] = {m: [] for m in self.modes}
        for s, r in zip(samples, responses):
            if r is None:
                continue
            if not isinstance(r, TextResponse):
                raise TaskError(f"PixelWorld sample {s.id}: expected a text response, got {type(r).__name__}")
            item = ScoredItem(subset=s.meta["subset"], output=r.text, answer=s.gold, group=s.meta.get("group"))
            parsed = proto.parse(item.subset, r.text)
            by_mode[s.meta["mode"]].append((s, item, parsed, proto.unparsed(item.subset, r.text, parsed)))
        if not any(by_mode.values()):
            raise TaskError(f"task {self.name!r}: no response to score")

        exec_info: dict[str, dict] = {}
        executions: dict[str, list[dict]] = {}
        per_item_scores: dict[str, dict[str, float]] = {m: {} for m in self.modes}
        strict_scores: dict[str, dict[str, float]] = {m: {} for m in self.modes}
        per_sample_extra: dict[str, dict] = {}
        metrics: dict[str, MetricValue] = {}
        tables_subsets: list[dict] = []
        scores: dict[str, float] = {}
        undefined: list[str] = []
        subset_order = [s for s in proto.subsets]
        for mode, rows in by_mode.items():
            if not rows:
                continue
            items = [it for _, it, _, _ in rows]
            parsed = [p for _, _, p, _ in rows]
            ex = self.execution_results(items, parsed, [s for s, *_ in rows], ctx.executions)
            if ex is not None:
                statuses: dict[str, int] = {}
                for (s, it, *_), e in zip(rows, ex):
                    if e is None:
                        continue
                    it.passed = e.get("passed")
                    it.execution = e.get("execution")
                    per_sample_extra[s.id] = dict(e.get("log", {}))
                    statuses[e["status"]] = statuses.get(e["status"], 0) + 1
                exec_info[mode] = statuses
                executions[mode] = [e for e in ex if e is not None]
            sub_scores: dict[str, float] = {}
            for sub in subset_order:
                idx = [k for k, it in enumerate(items) if it.subset == sub]
                if not idx:
                    continue
                s_items = [items[k] for k in idx]
                s_parsed = [parsed[k] for k in idx]
                rng = random.Random(_stable_int(self.fallback_seed, mode, sub)) if self.fallback == "random" else None
                mvals = proto.subset_metrics(sub, s_items, s_parsed, fallback=self.fallback, rng=rng)
                for name, v in list(mvals.items()):
                    if not np.isfinite(v):  # e.g. a correlation with constant predictions
                        mvals[name] = 0.0
                        undefined.append(f"{mode}/{sub}/{name}")
                sub_scores[sub] = subset_score(mvals)
                n_unp = sum(1 for k in idx if rows[k][3])
                tables_subsets.append({"mode": mode, "subset": sub, "n": len(idx), "metrics": mvals,
                                       "score": sub_scores[sub], "n_unparsed": n_unp})
                if proto.decomposable:
                    for k in idx:
                        sid = rows[k][0].meta["item"]
                        per_item_scores[mode][sid] = proto.item_score(items[k], parsed[k])
                        if isinstance(proto, MathVerse):
                            strict_scores[mode][sid] = proto.strict_item_score(items[k], parsed[k])
            scores[mode] = dataset_score(sub_scores)
            unparsed_rate = sum(1 for *_, u in rows if u) / len(rows)
            metrics[f"unparsed_rate_{mode}"] = MetricValue(unparsed_rate)

        per_sample = []
        for mode, rows in by_mode.items():
            for s, it, p, unp in rows:
                row = {"id": s.id, "item": s.meta["item"], "mode": mode, "subset": it.subset,
                       "response": it.output, "parsed": p if isinstance(p, (int, float)) else str(p),
                       "unparsed": unp, "template": s.meta["template"]}
                if proto.decomposable:
                    row["score"] = per_item_scores[mode].get(s.meta["item"])
                row.update(per_sample_extra.get(s.id, {}))
                per_sample.append(row)
        order = {s.id: k for k, s in enumerate(samples)}
        per_sample.sort(key=lambda r: order[r["id"]])

        # the official values; the declared aggregates (over items) give their intervals
        official = {f"score_{m}": float(v) for m, v in scores.items()}
        official.update({f"delta_{pm}_minus_text": float(scores[pm] - scores["text"])
                         for pm in PIXEL_MODES if "text" in scores and pm in scores})
        _, item_columns, _ = pivot_rows(per_sample, self.resample_unit)
        declared = score_declared(self.declared_metrics(), item_columns, ctx, values=official).values
        metrics.update(declared)
        for name, v in official.items():
            metrics.setdefault(name, MetricValue(v))  # not decomposable into item scores: no interval
        for mode in scores:
            if isinstance(proto, MathVerse):
                vals = list(strict_scores[mode].values())
                metrics[f"score_strict_{mode}"] = MetricValue(float(np.mean(vals)))
        ordered = [f"score_{m}" for m in MODES] + [f"score_strict_{m}" for m in MODES] + \
            [f"delta_{m}_minus_text" for m in PIXEL_MODES] + [f"unparsed_rate_{m}" for m in MODES]
        metrics = {k: metrics[k] for k in ordered if k in metrics}
        return TaskResult(metrics=metrics, per_sample=per_sample,
                          tables={**self._tables(scores, tables_subsets, by_mode, exec_info),
                                  **self.extra_tables(executions)},
                          notes=self._notes(scores, by_mode) + ([
                              f"Undefined metric values scored as 0 (e.g. a correlation of constant "
                              f"predictions; the official scipy call gives NaN): {undefined}"] if undefined else []))

    def _tables(self, scores, tables_subsets, by_mode, exec_info) -> dict:
        templates: dict[str, int] = {}
        for rows in by_mode.values():
            for s, *_ in rows:
                templates[s.meta["template"]] = templates.get(s.meta["template"], 0) + 1
        comparison = {"dataset": self.protocol_obj.name,
                      **{m: round(100 * v, 2) for m, v in scores.items()}}
        if "text" in scores and "img" in scores:
            comparison["delta"] = round(100 * (scores["img"] - scores["text"]), 2)
        if "text" in scores and "semi" in scores:
            comparison["delta_semi"] = round(100 * (scores["semi"] - scores["text"]), 2)
        answered = [(item.output, s.gold) for rows in by_mode.values() for s, item, *_ in rows]
        out = {"comparison": comparison, "per_subset": tables_subsets,
               "prompt_templates": templates, "excluded_subsets": dict(self._excluded),
               "n_per_mode": {m: len(r) for m, r in by_mode.items()},
               "degeneracy": check_generate([a for a, _ in answered], [g for _, g in answered])}
        if exec_info:
            out["code_execution"] = {"statuses": exec_info, **self._sandbox_info()}
        return out

    def _sandbox_info(self) -> dict:
        return {}

    def _notes(self, scores, by_mode) -> list[str]:
        notes = ["Scores are fractions (x100 for the published tables; see tables.comparison). Sub-task score = "
                 "mean of its metric values; dataset score = unweighted mean over sub-tasks (official)."]
        if self.fallback == "none":
            notes.append("Unparseable answers count as wrong (fallback=none; the official GLUE/MultiRC code "
                         "draws a random label instead, fallback=random reproduces it with a seed).")
        if self._excluded:
            reasons = [self.unavailable_subsets().get(k, "not selected") for k in self._excluded]
            notes.append(f"Sub-tasks left out: {dict(self._excluded)} ({'; '.join(sorted(set(reasons)))}); the "
                         f"dataset score is the mean over the remaining sub-tasks only.")
        if self.protocol_obj.decomposable is False:
            notes.append("No confidence intervals: the sub-task metrics (MCC, F1, correlations) are not means "
                         "of per-item scores.")
        if self.profile == "api":
            notes.append(f"API profile (the paper's GPT-4o/Gemini calls): temperature 0, max_new_tokens "
                         f"{self.max_new_tokens}. The official GPT-4o wrapper labels PNG bytes image/jpeg; each "
                         "image is sent here with the true MIME type of the bytes uploaded.")
        if self.pixel_source == "render":
            notes.append("Pixel mode uses locally rendered prompts (pixel_source=render), not the released "
                         "images; numbers are not directly comparable to the paper.")
        if "semi" in self.modes:
            notes.append("Semi mode: the release has no semi images; the table is drawn locally in the official "
                         "dataframe_image style (mmharness.render.table_image, Pillow; not pixel-identical to the "
                         "official Chrome screenshot) on a seeded canvas (render_preset/render_seed), beside "
                         "PixelWorld's semi prompt.")
        templates = {s.meta["template"] for rows in by_mode.values() for s, *_ in rows}
        official = self.protocol_obj.official_template
        if templates and templates != {official} and templates != {"other"}:
            notes.append(f"Prompt templates found in the data: {sorted(templates)}; the repository's run script "
                         f"uses '{official}' for this dataset.")
        return notes


# --------------------------------------------------------------------------- MBPP (code execution)


def code_execution_mode(task: str, value: Any) -> str | None:
    """The task option ``allow_code_execution`` (``true`` | ``false`` | ``unsandboxed``) as
    ``"sandboxed"``, ``"unsandboxed"`` or ``None``; ``"sandboxed"`` only where the sandbox can run
    here (else a :class:`TaskError` naming the package to install)."""
    from ..sandbox import SandboxUnavailable, parse_code_execution, require_isolation

    try:
        mode = parse_code_execution(value)
    except ValueError as e:
        raise TaskError(f"task {task!r}: {e}") from None
    if mode == "sandboxed":
        try:
            require_isolation()
        except SandboxUnavailable as e:
            raise TaskError(f"task {task!r}: {e}") from None
    return mode


def sandbox_record(mode: str) -> dict:
    """How model-written code runs, for ``config.sandbox`` (isolation, network, seccomp, ...)."""
    from ..sandbox import isolation_info

    return isolation_info(mode == "sandboxed")


def sandbox_note(mode: str) -> str:
    """The task note saying where model-written code ran."""
    if mode == "sandboxed":
        return ("Model-written code ran in the bubblewrap sandbox (mmharness.sandbox: new user/pid/net/ipc/uts "
                "namespaces, read-only Python runtime, tmpfs working directory, cleared environment, no new "
                "processes); a program passed only on the runner's nonce-authenticated verdict (config.sandbox).")
    return ("Model-written code ran UNSANDBOXED (allow_code_execution=unsandboxed, the user's choice): no operating-"
            "system isolation, so it could read and write what the harness's user can; only the resource limits, "
            "the audit hook and the authenticated verdict applied (config.sandbox.isolation).")


#: Options of the tasks that score by running model-written code (MBPP, TableBench Visualization).
CODE_EXECUTION_OPTIONS: dict[str, str] = {
    "allow_code_execution": "run model-written code to score it: true (each program in the bubblewrap sandbox), "
                            "unsandboxed (without OS isolation; recorded) or false",
    "code_memory_mb": "memory limit of each program, in MiB",
    "code_workers": "programs run at once",
}


def program_outcome(task: str, executions: Mapping[str, Mapping[str, Any]], sample: Sample, name: str):
    """The outcome (:class:`~mmharness.sandbox.ExecResult`) of program ``name`` of ``sample`` in the
    execution step's records; a :class:`TaskError` when the step did not run it."""
    outcome = executions.get(sample.id, {}).get(name)
    if outcome is None:
        raise TaskError(f"task {task!r}: sample {sample.id} is scored without the outcome of its program "
                        f"{name!r}: run the execution step before scoring (mmharness.execution.run_executions; "
                        f"mmharness.evaluate.score_task runs it)")
    return outcome


class _CodeExecutingTask(_PixelWorldBase):
    """Adds the explicit, recorded opt-in and the sandbox for datasets scored by running code."""

    executes: ClassVar[bool] = True

    option_meanings: ClassVar[dict[str, str]] = {
        **CODE_EXECUTION_OPTIONS,
        "allow_code_execution": CODE_EXECUTION_OPTIONS["allow_code_execution"] + "; false refuses to run the task",
        "code_timeout": "seconds each program may run",
    }

    def __init__(self, allow_code_execution: bool | Literal["unsandboxed"] = False, code_timeout: float = 3.0,
                 code_memory_mb: int = 1024, code_workers: int = 2, modes: str = "text+img",
                 pixel_source: str = "dataset", render_preset: str = "random", render_seed: int = 0,
                 render_font: str | None = None, fallback: str = "none", fallback_seed: int = 0,
                 subsets: str | None = None, max_new_tokens_text: int | None = None,
                 max_new_tokens_img: int | None = None, profile: str = "auto"):
        from ..sandbox import parse_code_execution

        try:
            opted_in = parse_code_execution(allow_code_execution)
        except ValueError as e:
            raise TaskError(f"task {self.name!r}: {e}") from None
        if opted_in is None:
            raise TaskError(
                f"task {self.name!r} scores pass@1 by EXECUTING model-written code. It runs only when you "
                f"opt in: --task-args allow_code_execution=true (each program then runs in a bubblewrap sandbox: "
                f"no host files, network or processes, a {code_timeout:g} s timeout, memory/CPU/file-size limits, "
                f"a temporary working directory). Or leave this task out (e.g. --tasks pixelworld_nocode).")
        if code_timeout <= 0 or code_memory_mb < 64 or code_workers < 1:
            raise TaskError(f"task {self.name!r}: code_timeout must be > 0, code_memory_mb >= 64, code_workers >= 1")
        super().__init__(modes=modes, pixel_source=pixel_source, render_preset=render_preset,
                         render_seed=render_seed, render_font=render_font, fallback=fallback,
                         fallback_seed=fallback_seed, subsets=subsets, max_new_tokens_text=max_new_tokens_text,
                         max_new_tokens_img=max_new_tokens_img, profile=profile)
        from ..sandbox import SandboxLimits

        self.code_execution = code_execution_mode(self.name, allow_code_execution)
        self.allow_code_execution = True
        self.limits = SandboxLimits(timeout_s=float(code_timeout), memory_mb=int(code_memory_mb))
        self.code_workers = self.execution_workers = int(code_workers)
        # probed once here (it may start bwrap --version), so that score only reads it
        self._isolation = sandbox_record(self.code_execution)

    def config(self) -> dict:
        """Base config plus the code-execution opt-in, the sandbox's isolation and limits."""
        c = super().config()
        c["allow_code_execution"] = True if self.code_execution == "sandboxed" else self.code_execution
        c["sandbox"] = {**self.limits.as_dict(), **self._isolation, "workers": self.code_workers}
        return c

    def _sandbox_info(self) -> dict:
        rec = self._isolation
        return {"limits": self.limits.as_dict(), "network": rec["network"], "isolation": rec["isolation"]}

    def _notes(self, scores, by_mode) -> list[str]:
        return super()._notes(scores, by_mode) + [sandbox_note(self.code_execution)]

    def item_programs(self, sample, item, parsed):
        """``tests``: the parsed completion + its test asserts, run in the sandbox (pass = no exception)."""
        from ..metrics.pixelworld_scoring import MBPP
        from ..sandbox import Program

        return {"tests": Program(MBPP.program(parsed, item.answer), self.limits,
                                 sandboxed=self.code_execution == "sandboxed")}

    def execution_results(self, items, parsed, samples, executions):
        """Each item's ``tests`` outcome (from the execution step): passed, status and detail."""
        results = [program_outcome(self.name, executions, s, "tests") for s in samples]
        return [{"passed": r.passed, "status": r.status, "log": {"exec_status": r.status, "exec_detail": r.detail}}
                for r in results]


# --------------------------------------------------------------------------- registrations


def _make(name: str, cls_name: str, title: str, base=_PixelWorldBase):
    proto = PROTOCOLS[cls_name]
    attrs = {
        "dataset_cls": cls_name,
        "protocol": (f"PixelWorld {proto.name} (Lyu, Ma & Chen, arXiv:2501.19339; data.py @ca89a7c): text vs "
                     f"pixel input, official parser and metrics, mean over sub-tasks"),
        "description": f"PixelWorld {title}: text input vs pixel input.",
        "__doc__": f"PixelWorld {proto.name} ({cls_name}): {title}; sub-tasks {', '.join(proto.subsets)}.",
        "__module__": __name__,
    }
    cls = type(f"PixelWorld{re.sub(r'[^A-Za-z0-9]', '', proto.name)}", (base,), attrs)
    return register_task(name)(cls)


PixelWorldGSM8K = _make("pixelworld_gsm8k", "GSM8KDataset", "grade-school math (exact match)")
PixelWorldMMLUPro = _make("pixelworld_mmlu_pro", "MMLUProDataset", "MMLU-Pro (accuracy, mean of 14 categories)")
PixelWorldARC = _make("pixelworld_arc", "ARCDataset", "ARC Easy + Challenge (accuracy)")
PixelWorldGLUE = _make("pixelworld_glue", "GLUEDataset", "GLUE (9 sub-tasks)")
PixelWorldSuperGLUE = _make("pixelworld_superglue", "SuperGLUEDataset", "SuperGLUE (8 sub-tasks)")
PixelWorldMBPP = _make("pixelworld_mbpp", "MBPPDataset", "MBPP pass@1 (executes code; opt-in)", _CodeExecutingTask)
PixelWorldMathVerse = _make("pixelworld_mathverse", "MathverseDataset", "MathVerse (accuracy)")
PixelWorldSlidesVQA = _make("pixelworld_slidesvqa", "SlidesVQADataset", "SlidesVQA (ROUGE-L, multi-image)")
PixelWorldWikiSS = _make("pixelworld_wikiss_qa", "WikiSS_QADataset", "Wiki-SS QA (ROUGE-L)")

# pixelworld_tablebench is registered in mmharness.tasks.pixelworld_tablebench
_ALL = ("pixelworld_glue", "pixelworld_superglue", "pixelworld_arc", "pixelworld_gsm8k", "pixelworld_mbpp",
        "pixelworld_mmlu_pro", "pixelworld_tablebench", "pixelworld_mathverse", "pixelworld_slidesvqa",
        "pixelworld_wikiss_qa")
register_group("pixelworld", _ALL)
register_group("pixelworld_nocode", tuple(t for t in _ALL if t != "pixelworld_mbpp"))
register_group("pixelworld_text", ("pixelworld_glue", "pixelworld_superglue", "pixelworld_arc", "pixelworld_gsm8k",
                                   "pixelworld_mbpp", "pixelworld_mmlu_pro"))
