"""SNARE's caption options, built exactly as the official code builds them.

Source: ``snare/datasets_zoo/snare_datasets.py``, ``data_des.py`` and ``retrieval_dataset.py`` of
https://github.com/WangFei-2019/SNARE (commit ``3abda6c``). Option 0 is always the positive.

* Negation logic: ``the {obj1} is {a0} and the {obj2} is {a1}`` / ``... is not ... is not ...``.
* Attribute ownership: ``true_caption``, ``false_caption``,
  ``the {obj1} and the {obj2} are {a0} and {a1} respectively``.
* Relationship composition: ``true_caption``, ``false_caption``,
  ``true_caption.replace("is " + relation_name, "and")`` (unchanged for ``are`` captions, as in the
  official code); items whose relation is in :data:`COMPOSITION_EXCLUDED` are dropped.
* Multi-spatial relation: ``true_caption.replace(relation_name, r)`` for r in
  :data:`SPATIAL_RELATIONS` (every substring is replaced, e.g. inside object names, as in the
  official code); only items whose relation is one of the four are kept; gold = its index.
* Semantic structure: the original and three perturbations of each raw caption, each passed
  through :func:`pre_caption` (max 30 words). The perturbations draw from a
  ``numpy.random.RandomState(seed)`` in dataset-construction order (image by image, caption by
  caption, function by function), which reproduces the official ``np.random.seed(seed)`` followed
  by ``np.random.permutation`` calls.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from .pos_taggers import Tagger

# --------------------------------------------------------------------------- constants

NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")
ADJ_TAGS = ("JJ", "JJR", "JJS")
VERB_TAGS = ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ")
CONTENT_TAGS = NOUN_TAGS + ADJ_TAGS + VERB_TAGS

SPATIAL_RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "on", "below")
COMPOSITION_EXCLUDED: tuple[str, ...] = ("near", "next to", "beside", "on the side of", "surrounding",
                                         "close to", "standing beside", "with", "by")
NEGATION_TEMPLATES = ("the {} is {} and the {} is {}", "the {} is not {} and the {} is not {}")
SEPARATE_TEMPLATE = "the {} and the {} are {} and {} respectively"
SEMANTIC_PERTURBATIONS: tuple[str, ...] = ("shuffle_nouns_and_verb_adj", "shuffle_allbut_nouns_verb_adj",
                                           "shuffle_all_words")
MAX_WORDS = 30

_PUNCT = re.compile(r"([.!\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")


# --------------------------------------------------------------------------- cleaning


def pre_caption(caption: str, max_words: int = MAX_WORDS) -> str:
    """BLIP's caption cleaning, verbatim: lower-case; each of ``.!"()*#:;~`` -> a space; runs of 2+
    whitespace characters -> one space; strip trailing newlines, then spaces; keep the first
    ``max_words`` space-separated words."""
    caption = _PUNCT.sub(" ", caption.lower())
    caption = _SPACES.sub(" ", caption)
    caption = caption.rstrip("\n").strip(" ")
    words = caption.split(" ")
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    return caption


# --------------------------------------------------------------------------- perturbations


def _tokens(tagged: list[tuple[str, str]]) -> np.ndarray:
    return np.array([t for t, _ in tagged])


def shuffle_nouns_and_verb_adj(tagged: list[tuple[str, str]], rng: np.random.RandomState) -> str:
    """Permute nouns among noun slots, then verbs among verb slots, then adjectives among adjective
    slots (three ``rng.permutation`` calls, in that order); re-join with single spaces."""
    text = _tokens(tagged)
    noun_idx = [i for i, (_, tag) in enumerate(tagged) if tag in NOUN_TAGS]
    adj_idx = [i for i, (_, tag) in enumerate(tagged) if tag in ADJ_TAGS]
    verb_idx = [i for i, (_, tag) in enumerate(tagged) if tag in VERB_TAGS]
    text[noun_idx] = rng.permutation(text[noun_idx])
    text[verb_idx] = rng.permutation(text[verb_idx])
    text[adj_idx] = rng.permutation(text[adj_idx])
    return " ".join(text)


def shuffle_allbut_nouns_verb_adj(tagged: list[tuple[str, str]], rng: np.random.RandomState) -> str:
    """Permute every token that is not a noun, adjective or verb among those slots (one permutation)."""
    text = _tokens(tagged)
    content_idx = [i for i, (_, tag) in enumerate(tagged) if tag in CONTENT_TAGS]
    other = np.ones(text.shape[0])
    other[content_idx] = 0
    other = other.astype(bool)
    text[other] = rng.permutation(text[other])
    return " ".join(text)


def shuffle_all_words(caption: str, rng: np.random.RandomState) -> str:
    """Permute the words of ``caption.split(" ")`` (single-space split, as the official code)."""
    return " ".join(rng.permutation(caption.split(" ")))


def semantic_structure_options(caption: str, tagger: Tagger, rng: np.random.RandomState,
                               max_words: int = MAX_WORDS) -> list[str]:
    """``[original, shuffle_nouns_and_verb_adj, shuffle_allbut_nouns_verb_adj, shuffle_all_words]``
    of one raw caption, each through :func:`pre_caption`. The caption is tagged once (the official
    code tags it in each of the first two functions; tagging is deterministic)."""
    tagged = tagger.tag(caption)
    return [pre_caption(caption, max_words),
            pre_caption(shuffle_nouns_and_verb_adj(tagged, rng), max_words),
            pre_caption(shuffle_allbut_nouns_verb_adj(tagged, rng), max_words),
            pre_caption(shuffle_all_words(caption, rng), max_words)]


# --------------------------------------------------------------------------- VG tasks


def negation_options(obj1: str, obj2: str, attributes: Sequence[str]) -> list[str]:
    """``[positive, negated]`` sentences of a VG-Attribution item."""
    a0, a1 = attributes
    return [t.format(obj1, a0, obj2, a1) for t in NEGATION_TEMPLATES]


def separate_caption(obj1: str, obj2: str, a0: str, a1: str) -> str:
    """The long-distance ("respectively") sentence."""
    return SEPARATE_TEMPLATE.format(obj1, obj2, a0, a1)


def attribute_ownership_options(true_caption: str, false_caption: str, obj1: str, obj2: str,
                                attributes: Sequence[str]) -> list[str]:
    """``[true_caption, false_caption (attributes exchanged), separate ("respectively")]``."""
    return [true_caption, false_caption, separate_caption(obj1, obj2, attributes[0], attributes[1])]


def and_caption(true_caption: str, relation_name: str) -> str:
    """``true_caption.replace("is " + relation_name, "and")`` (the official 'and' option)."""
    return true_caption.replace("is " + relation_name, "and")


def relationship_composition_options(true_caption: str, false_caption: str, relation_name: str) -> list[str]:
    """``[true_caption, false_caption (subject and object exchanged), "and" caption]``."""
    return [true_caption, false_caption, and_caption(true_caption, relation_name)]


def spatial_options(true_caption: str, relation_name: str) -> list[str]:
    """``true_caption.replace(relation_name, r)`` for the four spatial relations, in order."""
    return [true_caption.replace(relation_name, r) for r in SPATIAL_RELATIONS]
