"""Test adapters for SNARE (loaded with ``--include`` or imported by the tests).

* ``snare_test_prefer`` -- ``match`` that always scores option ``k`` highest (1.0, others 0.0),
  or, with ``k=-1``, the last option.
* ``snare_test_answer`` -- ``generate`` that answers every question with ``text``, where
  ``{gold}`` is replaced by the request's reference answer (e.g. ``text=The answer is {gold}.``).
"""

from __future__ import annotations

import torch

from mmharness.adapter import Adapter, AdapterError
from mmharness.registry import register_adapter


@register_adapter("snare_test_prefer")
class PreferOption(Adapter):
    """Scores 1 for option ``k`` (``-1`` = the last option) and 0 for every other option."""

    def __init__(self, k: int = 0):
        super().__init__()
        self.k = k

    def match(self, batch):
        rows = []
        for req in batch.requests:
            n = len(req.texts)
            k = self.k if self.k >= 0 else n - 1
            if k >= n:
                raise AdapterError(f"snare_test_prefer: k={k} but the request has {n} texts")
            row = torch.zeros(n)
            row[k] = 1.0
            rows.append(row)
        return rows


@register_adapter("snare_test_answer")
class FixedAnswer(Adapter):
    """Answers ``text`` with ``{gold}`` replaced by the request's reference answer."""

    def __init__(self, text: str = "{gold}"):
        super().__init__()
        self.text = text

    def generate(self, batch):
        return [self.text.replace("{gold}", str(r.reference)) for r in batch.requests]
