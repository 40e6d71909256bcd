"""The PixelWorld text renderer: layout rules of the spec, seeding, presets, and a regression
against a real rendering from the official project page."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.render.text_image import (
    FREESANS_PATHS,
    RenderError,
    RenderParams,
    RenderedText,
    load_font,
    render_text_image,
    resolve_font,
    wrap_text,
)

HAVE_FREESANS = any(Path(p).is_file() for p in FREESANS_PATHS)
TEXT = ("Task: main\nThe main task requires the model to solve the given math problem and provide an answer "
        "that is either an integer or a float.\nQuestion: How many?\n\nAnswer:[TODO]")


def _ink_rows(img: Image.Image, thresh: int = 100) -> np.ndarray:
    return np.where((np.asarray(img.convert("L")) < thresh).any(axis=1))[0]


def test_no_random_preset_layout_rules():
    img, p = render_text_image(TEXT, preset="no_random", font="builtin")
    assert (p.width, p.font_size, p.padding, p.base_height) == (512, 15, 20, 256)
    assert p.noise_modes == ()
    font = load_font("builtin", 15)
    assert p.line_spacing == font.getbbox("A")[3] + 10
    lines = wrap_text(TEXT, font, 512 - 2 * 20)
    # every paragraph is followed by an empty line; the blank paragraph gives one more empty line
    assert lines.count("") == 5 + 1
    assert all(font.getbbox(line)[2] <= 512 - 40 for line in lines if line)
    assert img.size == (512, max(256, p.line_spacing * len(lines) + 40))
    arr = np.asarray(img)
    assert set(np.unique(arr[:20])) == {255}  # top padding is blank white (no noise in no_random)
    ink_cols = np.where((np.asarray(img.convert("L")) < 128).any(axis=0))[0]
    assert ink_cols.min() >= 20 and ink_cols.max() < 512 - 20 + 1  # left-aligned inside the padding
    assert _ink_rows(img).min() >= 20


def test_height_grows_with_text_and_width_bounds_lines():
    long = " ".join(["word"] * 400)
    img, p = render_text_image(long, preset="no_random", font="builtin")
    assert img.size[1] > 256 and img.size[1] == p.line_spacing * p.n_lines + 2 * p.padding
    short, q = render_text_image("hi", preset="no_random", font="builtin")
    assert short.size == (512, 256)  # never shrunk below the base height


def test_random_preset_draws_within_the_official_ranges_and_is_seeded():
    seen = set()
    for seed in range(8):
        img, p = render_text_image(TEXT, seed=seed, font="builtin")
        assert 512 <= p.width <= 1024 and 15 <= p.font_size <= 25 and 5 <= p.padding <= 30
        assert 1 <= len(p.noise_modes) <= 4 and img.size[0] == p.width
        seen.add((p.width, p.font_size, p.padding))
        again, p2 = render_text_image(TEXT, seed=seed, font="builtin")
        assert p2 == p and np.array_equal(np.asarray(img), np.asarray(again))
    assert len(seen) > 4
    noisy = np.asarray(render_text_image("x", seed=1, font="builtin")[0]).astype(int)
    assert noisy[:5].std() > 5  # per-pixel noise everywhere, including the padding


def test_params_override_and_bad_options():
    img, p = render_text_image("abc", preset="no_random", font="builtin",
                               params=RenderParams(600, 256, "builtin", 20, 10))
    assert img.size == (600, 256) and p.font_size == 20
    with pytest.raises(RenderError, match="unknown render preset"):
        render_text_image("abc", preset="fancy", font="builtin")
    with pytest.raises(RenderError, match="not found"):
        resolve_font("/no/such/font.ttf")


def test_embedded_image_at_placeholder():
    table = Image.new("RGB", (300, 80), (200, 0, 0))
    img, p = render_text_image("Above\n<img>\nBelow", preset="no_random", font="builtin", embed=table)
    arr = np.asarray(img)
    red = np.where((arr[..., 0] == 200) & (arr[..., 1] == 0))
    assert red[0].size == 300 * 80
    assert red[1].min() == (512 - 300) // 2  # narrower than the line: centred


def test_rendered_text_media_ref():
    ref = RenderedText("hello", seed=3, preset="no_random", font="builtin", name="item 7")
    im = ref.load()
    assert im.size == (512, 256) and "item 7" in ref.describe()


def test_matches_a_real_official_rendering(fixtures_dir):
    """The project page's GSM8K example (768x436) was drawn with FreeSans 15 px and padding 20: our
    layout gives the same canvas and puts the glyphs on the same pixels (the noise differs)."""
    assert HAVE_FREESANS, ("FreeSans (Debian fonts-freefont-ttf), the official renderer's font, is not "
                           "installed: run tools/ensure_system_packages.sh (make test does)")
    rec = json.loads((fixtures_dir / "pixelworld" / "reconstructed_records.jsonl").read_text().splitlines()[0])
    real = Image.open(fixtures_dir / "pixelworld" / "example_input_1.png").convert("L")
    font = resolve_font(None)
    img, p = render_text_image(rec["Text_Prompt"], preset="no_random", params=RenderParams(768, 256, font, 15, 20))
    assert img.size == real.size == (768, 436)
    assert p.n_lines == 18 and p.line_spacing == 22
    a = np.asarray(real) < 100
    b = np.asarray(img.convert("L")) < 100
    assert (a & b).sum() / (a | b).sum() > 0.8
    assert np.corrcoef(a.sum(1), b.sum(1))[0, 1] > 0.99
    # a different padding shifts every glyph: the overlap collapses
    other, _ = render_text_image(rec["Text_Prompt"], preset="no_random", params=RenderParams(768, 256, font, 16, 11))
    c = np.asarray(other.convert("L")) < 100
    assert (a & c).sum() / (a | c).sum() < 0.3
