"""Render text to an image exactly as PixelWorld's ``ImageGenerator.generate_image`` does, seeded.

Reproduces ``pixel_world/image_generate.py`` of https://github.com/TIGER-AI-Lab/PixelWorld
(reference commit ``ca89a7c``; ``docs/protocols/pixelworld.md`` section 3):

* parameters, drawn in this order from one seeded ``random.Random``: canvas width uniform in
  [512, 1024], font (one font: FreeSans), font size uniform in [15, 25], padding uniform in
  [5, 30]; base height 256, grown to fit the text and never shrunk;
* line spacing = bottom of the bounding box of ``"A"`` (``font.getbbox("A")[3]``) + 10;
* greedy word wrap per ``\\n`` paragraph into ``width - 2 * padding`` pixels (words measured with
  ``font.getbbox(line)[2]``; a paragraph is first cut at 1,000 characters by ``textwrap``), with an
  empty line after every paragraph; a word wider than the line stays alone on its line;
* black, left-aligned text starting at ``(padding, padding)``;
* noise (not in the ``no_random`` preset): 1-4 low-frequency layers chosen from radial,
  horizontal gradient, vertical gradient and Gaussian blobs, each blurred (Gaussian, radius 30),
  summed, scaled to [0, 255] and blended at alpha 0.3; then per-pixel Gaussian noise, sigma 20.
  Noise is drawn **before** the text, so the glyphs themselves are noise-free;
* ``no_random`` preset: width 512, height 256, font size 15, padding 20, no noise;
* an optional embedded image at an ``<img>`` placeholder (TableBench ``img`` mode), scaled to the
  line width when wider, as the official code does.

The official renderer is unseeded; here every random draw comes from ``seed`` (Python ``random``
for the layout and noise layers, ``numpy.random.default_rng(seed)`` for the pixel noise), so the
same (text, seed, preset, font) always gives the same pixels. The official code falls back silently
to Pillow's default bitmap font when FreeSans is missing; this module refuses instead (see
:func:`resolve_font`), unless ``font="builtin"`` asks for Pillow's built-in scalable font.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Where FreeSans (GNU FreeFont; Debian/Ubuntu package ``fonts-freefont-ttf``) is looked for.
FREESANS_PATHS = (
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",  # Debian, Ubuntu (the official path)
    "/usr/share/fonts/gnu-free/FreeSans.ttf",  # Fedora, Arch (gnu-free-sans-fonts)
    "/usr/share/fonts/gnu-free/FreeSans.otf",
    "/usr/local/share/fonts/FreeSans.ttf",
    "/opt/homebrew/share/fonts/FreeSans.ttf",
)

PRESETS = ("random", "no_random")
WIDTH_RANGE = (512, 1024)
BASE_HEIGHT = 256
FONT_SIZE_RANGE = (15, 25)
PADDING_RANGE = (5, 30)
BASE_LINE_SPACING = 10
NO_RANDOM = {"width": 512, "height": 256, "font_size": 15, "padding": 20}
NOISE_MODES = ("radial", "horizontal", "vertical", "multiple-gaussians")
LOW_FREQ_ALPHA = 0.3
LOW_FREQ_BLUR = 30
HIGH_FREQ_SIGMA = 20.0


class RenderError(RuntimeError):
    """The text could not be rendered (missing font, bad option)."""


def resolve_font(font: str | None = None) -> str:
    """The font file to use: ``font`` if it is a file, ``"builtin"`` for Pillow's own scalable font,
    or FreeSans from :data:`FREESANS_PATHS` when ``font`` is None / ``"freesans"``."""
    if font == "builtin":
        return "builtin"
    if font not in (None, "", "freesans"):
        if not Path(font).is_file():
            raise RenderError(f"font file {font!r} not found")
        return str(font)
    for p in FREESANS_PATHS:
        if Path(p).is_file():
            return p
    raise RenderError(
        "FreeSans (the font of the official PixelWorld renderer) was not found in "
        f"{', '.join(FREESANS_PATHS[:3])}. Install it (Debian/Ubuntu: `apt-get install "
        "fonts-freefont-ttf`; Fedora: `dnf install gnu-free-sans-fonts`), pass the path of "
        "FreeSans.ttf as the font option, or use font=builtin (Pillow's built-in font; not the "
        "official layout).")


def load_font(font_path: str, size: int):
    """A Pillow FreeType font of ``size`` px from ``font_path`` (or Pillow's built-in font)."""
    from PIL import ImageFont

    if font_path == "builtin":
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(font_path, size)
    except OSError as e:
        raise RenderError(f"cannot load font {font_path!r}: {e}") from e


@dataclass(frozen=True)
class RenderParams:
    """The drawn layout parameters of one rendering (recorded per sample)."""

    width: int
    base_height: int
    font_path: str
    font_size: int
    padding: int
    line_spacing: int = 0
    height: int = 0
    n_lines: int = 0
    noise_modes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["noise_modes"] = list(self.noise_modes)
        return d


def wrap_text(text: str, font: Any, max_width: int) -> list[str]:
    """The official greedy wrap (``ImageGenerator._wrap_text``): lines, with an empty line after
    every paragraph."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        if paragraph.strip():
            for chunk in textwrap.wrap(paragraph, width=1000):
                current = ""
                for word in chunk.split():
                    candidate = (current + " " + word).strip()
                    if font.getbbox(candidate)[2] <= max_width:
                        current = candidate
                    else:
                        if current:
                            lines.append(current)
                        current = word
                if current:
                    lines.append(current)
        else:
            lines.append("")
        lines.append("")
    return lines


def line_spacing_of(font: Any) -> int:
    """Official line spacing: ``font.getbbox("A")[3] + 10``."""
    return int(font.getbbox("A")[3]) + BASE_LINE_SPACING


# --------------------------------------------------------------------------- noise


def _radial(rng: random.Random, w: int, h: int) -> np.ndarray:
    cx = rng.randint(0, w - 1)
    cy = rng.randint(0, h - 1)
    y, x = np.mgrid[0:h, 0:w]
    dist = np.sqrt((x - cx) ** 2.0 + (y - cy) ** 2.0)
    return (255 - np.floor(np.minimum(dist, 255))).astype(np.uint8)


def _horizontal(rng: random.Random, w: int, h: int) -> np.ndarray:
    direction = rng.choice(["left-to-right", "right-to-left"])
    val = ((np.arange(w) / (w - 1)) * 255).astype(np.int64)
    if direction == "right-to-left":
        val = 255 - val
    return np.broadcast_to(val[None, :], (h, w)).astype(np.uint8)


def _vertical(rng: random.Random, w: int, h: int) -> np.ndarray:
    direction = rng.choice(["top-to-bottom", "bottom-to-top"])
    val = ((np.arange(h) / (h - 1)) * 255).astype(np.int64)
    if direction == "bottom-to-top":
        val = 255 - val
    return np.broadcast_to(val[:, None], (h, w)).astype(np.uint8)


def _gaussians(rng: random.Random, w: int, h: int) -> np.ndarray:
    layer = np.zeros((h, w), dtype=np.int64)
    for _ in range(rng.randint(3, 6)):
        gx = rng.randint(0, w - 1)
        gy = rng.randint(0, h - 1)
        radius = rng.randint(20, 50)
        y0, y1 = max(0, gy - radius), min(h, gy + radius)
        x0, x1 = max(0, gx - radius), min(w, gx + radius)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dist = np.sqrt((xx - gx) ** 2.0 + (yy - gy) ** 2.0)
        val = np.where(dist < radius, (255 * (1 - dist / radius)).astype(np.int64), 0)
        layer[y0:y1, x0:x1] = np.maximum(layer[y0:y1, x0:x1], val)
    return layer.astype(np.uint8)


_NOISE_LAYERS = {"radial": _radial, "horizontal": _horizontal, "vertical": _vertical,
                 "multiple-gaussians": _gaussians}


def add_low_freq_noise(image, rng: random.Random) -> tuple[Any, tuple[str, ...]]:
    """Blend 1-4 blurred low-frequency layers into ``image`` at alpha 0.3; returns (image, modes)."""
    from PIL import Image, ImageFilter

    image = image.convert("RGB")
    w, h = image.size
    n = rng.randint(1, 4)
    modes = tuple(rng.sample(list(NOISE_MODES), n))
    arrays = []
    for m in modes:
        layer = Image.fromarray(_NOISE_LAYERS[m](rng, w, h), mode="L")
        layer = layer.filter(ImageFilter.GaussianBlur(radius=LOW_FREQ_BLUR))
        arrays.append(np.asarray(layer, dtype=np.float32))
    combined = np.sum(arrays, axis=0)
    peak = float(combined.max())
    if peak <= 0:
        return image, modes
    combined = (combined / peak * 255).astype(np.uint8)
    layer = Image.fromarray(combined, mode="L")
    colored = Image.merge("RGB", (layer, layer, layer))
    return Image.blend(image, colored, alpha=LOW_FREQ_ALPHA), modes


def add_high_freq_noise(image, gen: np.random.Generator, sigma: float = HIGH_FREQ_SIGMA):
    """Add per-pixel Gaussian noise (mean 0, ``sigma``), clip to [0, 255], truncate to uint8."""
    from PIL import Image

    arr = np.asarray(image.convert("RGB")).astype(np.float32)
    arr = arr + gen.normal(loc=0.0, scale=sigma, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


# --------------------------------------------------------------------------- rendering


def draw_params(rng: random.Random, preset: str, font_path: str) -> RenderParams:
    """Draw the layout parameters of one rendering (official order of draws)."""
    if preset == "no_random":
        return RenderParams(NO_RANDOM["width"], NO_RANDOM["height"], font_path,
                            NO_RANDOM["font_size"], NO_RANDOM["padding"])
    if preset != "random":
        raise RenderError(f"unknown render preset {preset!r}; expected one of {PRESETS}")
    width = rng.randint(*WIDTH_RANGE)
    fonts = [font_path]
    chosen = rng.choice(fonts)
    font_size = rng.randint(*FONT_SIZE_RANGE)
    padding = rng.randint(*PADDING_RANGE)
    return RenderParams(width, BASE_HEIGHT, chosen, font_size, padding)


def render_text_image(text: str, *, seed: int = 0, preset: str = "random", font: str | None = None,
                      embed=None, params: RenderParams | None = None):
    """Render ``text`` to an RGB ``PIL.Image``; returns ``(image, params)``.

    ``seed`` fixes every random draw; ``preset`` is ``"random"`` (the official distribution) or
    ``"no_random"`` (fixed 512 px, 15 px font, padding 20, no noise); ``font`` as in
    :func:`resolve_font`; ``embed`` an optional ``PIL.Image`` pasted at an ``<img>`` placeholder;
    ``params`` overrides the drawn layout (the noise is still drawn from ``seed``).
    """
    from PIL import Image, ImageDraw

    if preset not in PRESETS:
        raise RenderError(f"unknown render preset {preset!r}; expected one of {PRESETS}")
    rng = random.Random(seed)
    font_path = resolve_font(font)
    p = params if params is not None else draw_params(rng, preset, font_path)
    font_obj = load_font(p.font_path, p.font_size)
    spacing = line_spacing_of(font_obj)
    width = p.width
    max_width = width - 2 * p.padding
    if max_width <= 0:
        raise RenderError(f"padding {p.padding} leaves no room on a {width} px canvas")
    has_embed = embed is not None and "<img>" in text
    if has_embed:
        before, _, after = text.partition("<img>")
        emb = embed.convert("RGB")
        ew, eh = emb.size
        if width < ew:
            width = (int(ew * rng.uniform(1, 1.2)) if preset == "random" else ew) + 2 * p.padding
            max_width = width - 2 * p.padding
        lines_before = wrap_text(before, font_obj, max_width)
        lines_after = wrap_text(after, font_obj, max_width)
        if ew > max_width:
            eh = int(eh * (max_width / float(ew)))
            ew = max_width
            emb = emb.resize((ew, eh), Image.Resampling.LANCZOS)
        total = spacing * len(lines_before) + eh + spacing * len(lines_after) + 2 * p.padding
    else:
        lines_before, lines_after, emb, ew, eh = wrap_text(text, font_obj, max_width), [], None, 0, 0
        total = spacing * len(lines_before) + 2 * p.padding
    height = max(p.base_height, total)
    image = Image.new("RGB", (width, height), color=(255, 255, 255))
    modes: tuple[str, ...] = ()
    if preset == "random":
        image, modes = add_low_freq_noise(image, rng)
        image = add_high_freq_noise(image, np.random.default_rng(seed))
    draw = ImageDraw.Draw(image)
    y = p.padding
    for line in lines_before:
        draw.text((p.padding, y), line, fill=(0, 0, 0), font=font_obj)
        y += spacing
    if emb is not None:
        x = p.padding if ew >= max_width else (width - ew) // 2
        image.paste(emb, (x, y))
        y += eh
    for line in lines_after:
        draw.text((p.padding, y), line, fill=(0, 0, 0), font=font_obj)
        y += spacing
    final = RenderParams(width, p.base_height, p.font_path, p.font_size, p.padding, spacing, height,
                         len(lines_before) + len(lines_after), modes)
    return image, final


@dataclass(frozen=True)
class RenderedText:
    """A :class:`~mmharness.requests.MediaRef` whose image is ``text`` rendered on load (in a
    DataLoader worker) with :func:`render_text_image`; ``describe()`` names it for errors."""

    text: str
    seed: int
    preset: str = "random"
    font: str | None = None
    name: str = "rendered text"
    modality: str = "image"

    def load(self):
        from ..requests import MediaDecodeError

        try:
            return render_text_image(self.text, seed=self.seed, preset=self.preset, font=self.font)[0]
        except RenderError as e:
            raise MediaDecodeError(f"{self.describe()}: {e}") from e

    def describe(self) -> str:
        return f"{self.name} (rendered, seed {self.seed}, preset {self.preset})"
