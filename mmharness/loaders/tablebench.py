"""TableBench pieces of PixelWorld: the table inside a prompt, the ``semi``/``img`` prompts, chart types.

PixelWorld's TableBench ``Text_Prompt`` is TableBench's ``instruction``: guidelines, then
``Read the table below in JSON format:\\n[TABLE] \\n<table>\\n\\nLet's get start!\\nQuestion: ...``,
where ``<table>`` is ``{"columns": [...], "data": [[...], ...]}`` (JSON in the release PixelWorld
used; later TableBench files print it as a Python dict, which is read too).

* :func:`split_table_prompt` finds the table and the text around it (the official code splits the
  instruction on the ``table`` field's text; the PixelWorld release has no such field, so the table
  is located after the ``[TABLE]`` marker).
* :func:`semi_prompt` / :func:`img_prompt` rebuild PixelWorld's ``format_prompt`` for the ``semi``
  mode (the text beside the table image) and the ``img`` mode (the text rendered around the
  table, ``<img>`` marking where the table image goes): in the text before the table ``[TABLE]``
  and ``Read the table below in JSON format:`` are removed and blank lines collapsed (``"\\n\\n"`` ->
  ``"\\n"``, twice), in the text after it blank lines are collapsed once.
* :class:`ChartTypes` reads the chart type of each Visualization question (``chart_type``: line,
  bar, ...) from the TableBench release (``Multilingual-Multimodal-NLP/TableBench`` JSONL files:
  ``TableBench.jsonl``, ``TableBench_DP.jsonl``, ...), which the PixelWorld release lacks; the
  TableBench evaluator needs it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..task import TaskError

TABLE_MARKER = "[TABLE]"
_QUESTION = re.compile(r"Question:\s*(.*?)\s*$", re.S)


@dataclass(frozen=True)
class TablePrompt:
    """A prompt cut around its table: ``head + table_text + tail == prompt``."""

    head: str
    table_text: str
    tail: str
    table: dict


def _closing(text: str, start: int) -> int:
    """Index just past the bracket that closes ``text[start]`` (quote-aware), or -1."""
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _as_table(value, where: str) -> dict:
    if not (isinstance(value, dict) and isinstance(value.get("columns"), list)
            and isinstance(value.get("data"), list) and all(isinstance(r, list) for r in value["data"])):
        raise ValueError(f"{where}: the table is not {{'columns': [...], 'data': [[...], ...]}}")
    return value


def split_table_prompt(prompt: str, where: str = "prompt") -> TablePrompt:
    """Locate the table of a TableBench instruction (after ``[TABLE]``; JSON or a Python dict
    literal). Raises ``ValueError`` naming ``where`` when there is none."""
    marker = prompt.find(TABLE_MARKER)
    start = prompt.find("{", marker + len(TABLE_MARKER) if marker >= 0 else 0)
    if marker < 0 or start < 0:
        raise ValueError(f"{where}: no table found (expected '{TABLE_MARKER}' followed by "
                         f"{{\"columns\": [...], \"data\": [...]}})")
    try:
        value, end = json.JSONDecoder().raw_decode(prompt, start)
    except ValueError:
        end = _closing(prompt, start)
        if end < 0:
            raise ValueError(f"{where}: the table after '{TABLE_MARKER}' is not closed") from None
        try:
            value = ast.literal_eval(prompt[start:end])
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"{where}: the table after '{TABLE_MARKER}' is neither JSON nor a Python "
                             f"literal ({type(e).__name__})") from None
    return TablePrompt(prompt[:start], prompt[start:end], prompt[end:], _as_table(value, where))


def _head(tp: TablePrompt) -> str:
    head = tp.head.replace(TABLE_MARKER, "")
    head = head.replace("\n\n", "\n").replace("\n\n", "\n")
    return head.replace("Read the table below in JSON format:", "").strip()


def semi_prompt(tp: TablePrompt) -> str:
    """PixelWorld ``semi`` mode: the text sent beside the table image."""
    return f"{_head(tp)}\nRead the table in the image\n{tp.tail.replace(chr(10) * 2, chr(10)).strip()}\n"


def img_prompt(tp: TablePrompt) -> str:
    """PixelWorld ``img`` mode: the text rendered around the table (``<img>`` = the table image)."""
    return f"{_head(tp)}\nRead the table in the below image.\n<img>\n{tp.tail.replace(chr(10) * 2, chr(10)).strip()}\n"


def question_of(prompt: str) -> str | None:
    """The text after the last ``Question:`` of a TableBench instruction (stripped)."""
    idx = prompt.rfind("Question:")
    if idx < 0:
        return None
    m = _QUESTION.match(prompt, idx)
    return m.group(1) if m else None


class ChartTypes:
    """Chart type of each TableBench Visualization question, read from the TableBench release.

    ``path`` is a JSONL file or a folder of them (``TableBench*.jsonl``). A question is found by
    its exact ``instruction`` (= PixelWorld's ``Text_Prompt``), else by its ``question`` text and
    gold ``answer``.
    """

    def __init__(self, path: str | Path):
        p = Path(path)
        files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        if not files or not all(f.is_file() for f in files):
            raise TaskError(f"TableBench chart types: {path} is not a JSONL file or a folder of them "
                            f"(the files of Multilingual-Multimodal-NLP/TableBench, e.g. TableBench.jsonl)")
        self.source = str(p)
        self.by_instruction: dict[str, str] = {}
        self.by_question: dict[tuple[str, str], str] = {}
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError as e:
                        raise TaskError(f"TableBench chart types: {f} line {n} is not JSON ({e})") from None
                    if rec.get("qtype") != "Visualization":
                        continue
                    ct = rec.get("chart_type")
                    if not ct:
                        raise TaskError(f"TableBench chart types: {f} line {n} (id {rec.get('id')}) is a "
                                        f"Visualization question without 'chart_type'")
                    if isinstance(rec.get("instruction"), str):
                        self.by_instruction[rec["instruction"]] = ct
                    if isinstance(rec.get("question"), str):
                        self.by_question[(rec["question"].strip(), str(rec.get("answer", "")).strip())] = ct
        if not self.by_instruction and not self.by_question:
            raise TaskError(f"TableBench chart types: no Visualization question in {path}")

    def lookup(self, prompt: str, answer: str) -> str | None:
        """The chart type of the question whose instruction is ``prompt`` (or whose question text
        and gold answer match), else None."""
        if prompt in self.by_instruction:
            return self.by_instruction[prompt]
        q = question_of(prompt)
        return self.by_question.get((q, str(answer).strip())) if q else None
