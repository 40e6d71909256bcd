"""SNARE's MLLM prompts (paper v2 protocol), built as ``deal_itm_human`` of the official
``MLLM-test.py`` / ``GPT-4-Vision-test.py`` builds them (SNARE repository, commit ``d367352``).

The official script seeds Python's ``random`` with the run seed, takes ``random.sample(dataset,
n)`` (n = all items for BLIP-2, 1,500 for GPT-4V), and for each sampled item in that order draws
``g = random.choice([0, 1])`` (then, for semantic structure, ``g = random.choice(range(4))``). The
functions here take that draw and return the question; :func:`draw_questions` replays the draws
from a ``random.Random(seed)``, which gives the official items, order and gold labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from .aro import VGItem
from .snare_captions import SEPARATE_TEMPLATE, SPATIAL_RELATIONS, and_caption

YESNO_PROMPT = "Does the following sentence match the image? Answer yes or no.\n"
YESNO01_PROMPT = "Does the following sentence match the image? 0 → no  1 → yes \n"
MC_PROMPT = ("Select the most accurate description for the image from the following options. "
             "Respond using the corresponding option number.\n")
SPATIAL_PROMPT = ("Select the position information that best matches the image filled in the __. "
                  "Respond using the corresponding option number.\n")


@dataclass(frozen=True)
class Question:
    """One MLLM question: ``prompt + sentence`` is the text; ``gold`` the correct answer label;
    ``kind`` how answers are parsed (``yesno``, ``yesno01`` or ``mc`` with ``n_options``)."""

    prompt: str
    sentence: str
    gold: int
    kind: str
    n_options: int = 2

    @property
    def text(self) -> str:
        """The exact text sent to the model."""
        return self.prompt + self.sentence


def negation_affirmative(item: VGItem, g: int) -> Question:
    """Negation logic, official num 0: yes/no on the affirmative sentence (g=1) or its
    attribute-swapped version (g=0)."""
    o1, o2, (a0, a1) = item.obj1_name, item.obj2_name, item.attributes
    choice = [[o1, a1, o2, a0], [o1, a0, o2, a1]]
    return Question(YESNO_PROMPT, "the {} is {} and the {} is {}".format(*choice[g]), g, "yesno")


def negation_negated(item: VGItem, g: int) -> Question:
    """Negation logic, official num 1: yes/no on the negated sentence with attributes swapped
    (true, g=1) or unswapped (false, g=0)."""
    o1, o2, (a0, a1) = item.obj1_name, item.obj2_name, item.attributes
    choice = [[o1, a0, o2, a1], [o1, a1, o2, a0]]
    return Question(YESNO_PROMPT, "the {} is not {} and the {} is not {}".format(*choice[g]), g, "yesno")


def negation_mc(item: VGItem, g: int) -> Question:
    """Negation logic, official num 2 (in the code, not described in the paper): choose between an
    affirmative sentence and its negation; g=0 unswapped (affirmative true), g=1 swapped (negation true)."""
    o1, o2, (a0, a1) = item.obj1_name, item.obj2_name, item.attributes
    choice = [[o1, a0, o2, a1], [o1, a1, o2, a0]]
    is_ = "the {} is {} and the {} is {}".format(*choice[g])
    not_ = "the {} is not {} and the {} is not {}".format(*choice[g])
    return Question(MC_PROMPT, "0. " + is_ + "\n" + "1. " + not_, g, "mc")


def attribute_mc(item: VGItem, g: int) -> Question:
    """Attribute ownership, official num 0: the true caption at position g, the false one at 1-g."""
    lines = [None, None]
    lines[g] = f"{g}. {item.true_caption}"
    lines[1 - g] = f"{1 - g}. {item.false_caption}"
    return Question(MC_PROMPT, "\n".join(lines), g, "mc")


def attribute_mc_respectively(item: VGItem, g: int) -> Question:
    """Attribute ownership, official num 1: ``0.`` the true (g=0) or false (g=1) caption vs ``1.`` a
    'respectively' sentence that is false (g=0) or true (g=1)."""
    a0, a1 = item.attributes
    choice = [[a1, a0], [a0, a1]]
    first = f"0. {[item.true_caption, item.false_caption][g]}"
    second = "1. " + SEPARATE_TEMPLATE.format(item.obj1_name, item.obj2_name, *choice[g])
    return Question(MC_PROMPT, first + "\n" + second, g, "mc")


def attribute_yesno_respectively(item: VGItem, g: int) -> Question:
    """Attribute ownership, official num 2: one 'respectively' sentence, true (g=1) or attributes
    swapped (g=0), with the prompt "0 -> no  1 -> yes"."""
    a0, a1 = item.attributes
    choice = [[a1, a0], [a0, a1]]
    return Question(YESNO01_PROMPT, SEPARATE_TEMPLATE.format(item.obj1_name, item.obj2_name, *choice[g]),
                    g, "yesno01")


def relationship_mc(item: VGItem, g: int) -> Question:
    """Relationship composition: ``0.`` the true (g=0) or false (g=1) caption vs ``1.`` the 'and'
    caption (correct when option 0 is false)."""
    sentence = [item.true_caption, item.false_caption][g]
    return Question(MC_PROMPT, "0. " + sentence + "\n" + "1. " + and_caption(item.true_caption, item.relation_name),
                    g, "mc")


def spatial_mc(item: VGItem, g: int) -> Question:
    """Multi-spatial relation: the caption with its relation blanked (``__``) and the 4 relations;
    gold = the relation's index (the drawn g is discarded, as in the official code)."""
    sentence = (item.true_caption.replace(item.relation_name, "__") + "\n"
                + "0. to the left of \n1. to the right of \n2. on \n3. below")
    return Question(SPATIAL_PROMPT, sentence, SPATIAL_RELATIONS.index(item.relation_name), "mc", 4)


def semantic_mc(options: Sequence[str], g: int) -> Question:
    """Semantic structure: the original caption inserted at position g among the 3 perturbations,
    lines ``"{j}. {option} \\n"``."""
    ll = list(options[1:])
    ll.insert(g, options[0])
    return Question(MC_PROMPT, "".join(f"{j}. {ll[j]} \n" for j in range(len(ll))), g, "mc", len(ll))


def draw_questions(n_items: int, subset: int | None, seed: int, build: Callable[[int, int], Question],
                   semantic: bool = False, n_options: int = 4) -> list[tuple[int, Question]]:
    """Replay the official sampling: ``(item index, question)`` in the official processing order.

    ``random.Random(seed).sample(range(n_items), subset or n_items)`` gives the items (the same
    indices as ``random.sample(dataset, n)``); then per item ``choice([0, 1])`` and, for semantic
    structure, ``choice(range(n_options))``; ``build(index, g)`` makes the question.
    """
    k = n_items if subset is None else subset
    if not 0 < k <= n_items:
        raise ValueError(f"subset={subset} must lie in [1, {n_items}] (the number of items)")
    rng = random.Random(seed)
    order = rng.sample(range(n_items), k)
    out = []
    for idx in order:
        g = rng.choice([0, 1])
        if semantic:
            g = rng.choice(range(n_options))
        out.append((idx, build(idx, g)))
    return out


# --------------------------------------------------------------------------- BLIP-2 yes/no (spec 3.2)

#: The first prompt of the repository's BLIP-2 wrapper (``snare/models/blip2_load.py``).
DESCRIBE_PROMPT = "Question: Describe the image. Answer:"


def blip2_question(option: str) -> str:
    """The yes/no question the official BLIP-2 wrapper builds from a caption option, verbatim.

    ``"is"`` anywhere in the option (also inside ``this``, ``island``) -> ``"is " + option without
    " is" + "in the image?"`` (no space before ``in``, sic); elif ``"are"`` -> the same with
    ``are``; else ``"are there {option} in the image?"``.
    """
    if "is" in option:
        return "is " + option.replace(" is", "") + "in the image?"
    if "are" in option:
        return "are " + option.replace(" are", "") + "in the image?"
    return "are there {} in the image?".format(option)


def blip2_followup(description: str, question: str) -> str:
    """The second prompt: the model's own description, then the yes/no question."""
    return f"Question: Describe the image. Answer: {description}. Question: {question} Answer:"
