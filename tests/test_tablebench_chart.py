"""TableBench Visualization chart metrics (no code execution): the official accessors read real
matplotlib charts, and the TableBench and PixelWorld comparisons behave as the originals do."""

import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mmharness.metrics import tablebench_chart as C  # noqa: E402

NAN = float("nan")


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_tablebench_comparison_sorts_rounds_and_flattens_one_level():
    assert C.compute_general_chart_metric([[3, 1, 2]], [1.004, 2, 3])  # sorted; rounded to 2 decimals
    assert not C.compute_general_chart_metric([[3, 1, 2]], [1.006, 2, 3])  # 1.01 != 1.0
    assert not C.compute_general_chart_metric([[1, 2]], [1, 2, 2])  # lengths differ
    assert C.compute_general_chart_metric([[1, 2], [3]], [[3], [2, 1]])  # lists expanded one level
    assert C.compute_general_chart_metric([[1, NAN]], [1, NAN])  # NaN faces NaN
    assert not C.compute_general_chart_metric([[1, NAN]], [NAN, 1])  # ... at the same place after sorting
    with pytest.raises(TypeError):
        C.compute_general_chart_metric([[1, 2]], [(1, 2)])  # tuples are not expanded: round() fails


def test_tablebench_pie_metric_compares_shares_of_the_total():
    assert C.compute_pie_chart_metric([[1, 1, 2]], [0.5, 0.25, 0.25])
    assert C.compute_pie_chart_metric([[1, 2]], [0.33, 0.67])
    assert not C.compute_pie_chart_metric([[1, 2]], [1, 2])  # raw values are not shares


def test_tablebench_accessors_read_each_chart_type():
    plt.figure()
    plt.plot([1, 2, 3])
    plt.plot([4, 5, 6])
    assert C.get_line_y_predictions(plt) == [[1, 2, 3], [4, 5, 6]]
    assert C.tablebench_chart_passes(plt, "line", [[4, 5, 6], [1, 2, 3]])
    assert C.get_radar_y_predictions(plt) == [[1, 2], [4, 5]]  # closing point dropped
    plt.figure()
    plt.bar(range(3), [5, 6.5, 7])
    assert C.get_bar_y_predictions(plt) == [5, 6.5, 7] == C.get_waterfall_y_predictions(plt)
    assert C.tablebench_chart_passes(plt, "bar", [[7, 5, 6.5]])  # order does not matter
    assert not C.tablebench_chart_passes(plt, "hbar", [[7, 5, 6.5]])  # widths are the bar widths (0.8)
    plt.figure()
    plt.barh(range(2), [3, 4])
    assert C.get_hbar_y_predictions(plt) == [3, 4]
    plt.figure()
    plt.pie([1, 2])
    assert C.get_pie_y_predictions(plt) == [0.33, 0.67]
    assert C.tablebench_chart_passes(plt, "pie", [[10, 20]])
    plt.figure()
    plt.fill_between(range(3), [1, 2, 3])
    assert C.get_area_y_predictions(plt) == [[1.0, 2.0, 3.0]]
    assert C.tablebench_chart_passes(plt, "area", [[1, 2, 3]])
    plt.figure()
    plt.fill_between(range(3), [0, 2, 3])
    assert not C.tablebench_chart_passes(plt, "area", [[0, 2, 3]])  # official quirk: zeros are dropped
    plt.figure()
    plt.scatter(range(3), [4, 5, 6])
    assert C.get_scatter_y_predictions(plt) == [[4.0, 5.0, 6.0]]
    with pytest.raises(NameError, match="not one of"):
        C.tablebench_chart_passes(plt, "donut", [[4, 5, 6]])


def test_pixelworld_comparison_is_ordered_with_absolute_tolerance_on_bars_only():
    assert C.pw_compare_arrays([1, 2], [1.009, 2])
    assert not C.pw_compare_arrays([1, 2], [1.02, 2])
    assert not C.pw_compare_arrays([1, 2], [2, 1])  # in order
    assert not C.pw_compare_arrays([1, 2], [1, 2, 3])
    assert C.pw_compare_arrays([1], [NAN])  # abs(nan) > 0.01 is False: a NaN never fails
    plt.figure()
    plt.bar(range(3), [1200, 5400, 800])
    assert C.pixelworld_chart_passes(plt, [[1200, 5400, 800], [9, 9, 9]])  # only y_references[0]
    assert not C.pixelworld_chart_passes(plt, [[5400, 1200, 800]])
    assert not C.pixelworld_chart_passes(plt, [])
    plt.figure()
    plt.plot([1200, 5400, 800])
    assert not C.pixelworld_chart_passes(plt, [[1200, 5400, 800]])  # a line chart has no bars


def test_table_csv_is_written_as_the_evaluators_write_it(tmp_path):
    path = tmp_path / "table.csv"
    C.write_table_csv({"columns": ["a", "a", "b"], "data": [[1, 2, "x"], [3, 4, None]]}, str(path))
    rows = list(csv.reader(path.open()))
    assert rows == [["a", "b"], ["2", "x"], ["4", ""]]  # repeated column name: the last value wins
