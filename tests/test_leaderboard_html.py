"""The static HTML leaderboard in headless Chromium (Debian package ``chromium``).

The page must load with no JavaScript error and no console message, show every model, draw the
per-task plots, and sort from a ``#sort=`` link. A screenshot is saved to
``test-output/leaderboard.png``. Without Chromium these tests FAIL (install it with
``tools/ensure_system_packages.sh``); they are never skipped.
"""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lb_helpers import mmra_docs, pixelworld_docs, real_runs, write_doc
from mmharness.leaderboard import BuildOptions, build_leaderboard
from mmharness.leaderboard.render_html import render_html
from mmharness.results import load_results

pytestmark = pytest.mark.slow  # see `make test-fast`

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = ROOT / "test-output"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]


def chromium() -> str:
    candidates = (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                  shutil.which("chromium-browser"))
    for c in candidates:
        if c and Path(c).is_file():
            return c
    pytest.fail("headless Chromium is required for the leaderboard HTML test but was not found "
                "(looked for $CHROMIUM, chromium, /usr/bin/chromium). Install it with `tools/ensure_system_packages.sh` "
                "(Debian package `chromium`, needs root) or set CHROMIUM=/path/to/chromium.")


def run_chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    """Console messages (and uncaught errors) of the page, as Chromium logs them to stderr."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class Dom(HTMLParser):
    """Collects what the checks need from the dumped DOM."""

    def __init__(self):
        super().__init__()
        self.status = None
        self.models = []          # text of td.model-name cells, in table order
        self.plots = {}           # plot id -> counts of svg shapes
        self.errors_text = ""
        self._in_model = self._in_errors = False
        self._plot = None
        self._buf = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.status = a.get("data-status")
        cls = (a.get("class") or "").split()
        if tag == "td" and "model-name" in cls:
            self._in_model, self._buf = True, []
        if tag == "pre" and a.get("id") == "lb-errors":
            self._in_errors = True
        if tag == "div" and "data-plot" in a:
            self._plot = a["data-plot"]
            self.plots[self._plot] = {"rect": 0, "circle": 0, "svg": 0}
        if self._plot and tag in ("rect", "circle", "svg"):
            self.plots[self._plot][tag] += 1

    def handle_endtag(self, tag):
        if tag == "td" and self._in_model:
            self._in_model = False
            self.models.append("".join(self._buf).strip())
        if tag == "pre":
            self._in_errors = False

    def handle_data(self, data):
        if self._in_model:
            self._buf.append(data)
        if self._in_errors:
            self.errors_text += data


def dump(page: Path, tmp: Path, fragment: str = "") -> tuple[Dom, subprocess.CompletedProcess]:
    res = run_chromium(page.as_uri() + fragment, tmp, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = Dom()
    dom.feed(res.stdout)
    return dom, res


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    runs = real_runs(d)
    template = load_results(runs["oracle"])
    for i, doc in enumerate(mmra_docs(template) + pixelworld_docs(template)):
        write_doc(doc, d, f"published_{i}")
    (d / "results_truncated.json").write_text(runs["oracle"].read_text()[:500])  # listed under problems
    lb = build_leaderboard([d], BuildOptions(include_samples=True))
    assert any(p["kind"] == "invalid_json" for p in lb["problems"])
    p = d / "leaderboard.html"
    p.write_text(render_html(lb), encoding="utf-8")
    return p, lb


def test_page_loads_without_errors_and_shows_every_model(page, tmp_path):
    p, lb = page
    dom, res = dump(p, tmp_path)
    assert console_lines(res.stderr) == []
    assert dom.status == "ready", dom.errors_text
    assert dom.errors_text == ""
    expected = [m["label"] + "".join(m["flags"]) for m in lb["models"]]
    assert dom.models == expected  # every model, in leaderboard order (flags drawn as badges)
    assert set(dom.plots) == {"cifar_b-cifar10_b", "cifar_b-cifar100_b", "mmra-mmra", "pixelworld-text-vs-pixels"}
    mmra = next(x for x in lb["plots"] if x["id"] == "mmra-mmra")
    n_bars = sum(v is not None for s in mmra["series"] for v in s["values"])
    assert dom.plots["mmra-mmra"]["rect"] == n_bars == 33  # 3 models x 11 subtasks
    pw = next(x for x in lb["plots"] if x["id"] == "pixelworld-text-vs-pixels")
    n_text = sum(v is not None for s in pw["series"] for v in s["from"])
    assert dom.plots["pixelworld-text-vs-pixels"]["circle"] == n_text == 18  # 3 models x 6 datasets


def test_sort_link_orders_rows_in_the_browser(page, tmp_path):
    p, lb = page
    dom, res = dump(p, tmp_path, "#sort=task:mmra:desc")
    assert dom.status == "ready", dom.errors_text
    by_mmra = sorted((m for m in lb["models"] if m["cells"]["mmra"]["value"] is not None),
                     key=lambda m: -m["cells"]["mmra"]["value"])
    assert dom.models[:3] == [m["label"] for m in by_mmra]
    assert len(dom.models) == len(lb["models"])  # rows without an MMRA value follow, none lost
    dom, _ = dump(p, tmp_path, "#sort=nonsense")
    assert dom.status == "error" and "unknown sort key" in dom.errors_text


def test_a_broken_page_is_detected(page, tmp_path):
    """Control: the status marker and console capture really catch failures."""
    p, _ = page
    broken = tmp_path / "broken.html"
    text = p.read_text(encoding="utf-8")
    broken.write_text(re.sub(r'(<script type="application/json" id="lb-data">).*?(</script>)', r"\1{}\2", text,
                             flags=re.S), encoding="utf-8")
    dom, res = dump(broken, tmp_path)
    assert dom.status == "error" and "TypeError" in dom.errors_text
    probe = tmp_path / "probe.html"
    probe.write_text("<html><body><script>console.error('probe-message')</script></body></html>")
    _, res = dump(probe, tmp_path)
    assert any("probe-message" in line for line in console_lines(res.stderr))


def test_screenshot(page, tmp_path):
    from PIL import Image

    p, _ = page
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / "leaderboard.png"
    if shot.exists():
        shot.unlink()
    res = run_chromium(p.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1400,2600")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1400, 2600)
        colours = im.convert("RGB").resize((200, 370)).getcolors(maxcolors=100000)
    assert colours is not None and len(colours) > 50  # a drawn page, not a blank one
