"""Video decoding: AVA-style extracted frame folders and video files (PyAV), clip sampling.

Media references here are light, picklable records; their ``load()`` runs in DataLoader workers
and returns decoded pixels:

* :class:`FrameFolderClip` — frames ``<dir>/image_%06d.jpg`` (the AVA extraction layout) at given
  frame numbers -> ``uint8`` array ``(T, H, W, 3)`` (modality ``"video"``);
* :class:`FrameFile` — one frame image, optionally resized -> PIL image (modality ``"image"``);
* :class:`VideoFileClip` — frames of a video file nearest to given times (seconds) -> ``(T, H, W, 3)``;
* :class:`VideoFileFrame` — one frame of a video file -> PIL image;
* :class:`VideoFileUniform` — ``num_frames`` frames spread uniformly over a whole video file.

Clip sampling of the RefAVA / RAVAR protocol (``docs/protocols/refava.md`` section 2): frames extracted at
30 fps with frame 0 at t = 900 s; a key with timestamp t uses the 90-frame window starting at frame
``(t - 900) * 30 - 45`` (keyframe at offset 45); evaluation uses ``floor(90 / 8) = 11`` clips,
clip c taking window offsets ``linspace(c, 89, 8)`` (integer). :func:`ava_clip_frames` returns the
absolute frame numbers. Its option ``repeated_frame_bug`` reproduces the official loader, which
never advances its frame index and so reads the window's **first** frame for every position; it is
off by default (the harness reads the real frames) and recorded in task configs when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..requests import MediaDecodeError
from .av_media import open_media

#: AVA frame extraction: frames per second, and the movie second of frame 0.
AVA_FPS = 30
AVA_FIRST_SECOND = 900
#: RAVAR window: frames read around a keyframe, keyframe offset inside the window.
WINDOW_FRAMES = 90
KEYFRAME_OFFSET = 45
#: RAVAR clips: frames per clip and the number of evaluation clips (floor(90 / 8)).
CLIP_FRAMES = 8
EVAL_CLIPS = WINDOW_FRAMES // CLIP_FRAMES
#: Official keyframe resize (height, width).
KEYFRAME_SIZE = (340, 465)
#: File name pattern of extracted frames (``image_%06d.jpg``).
FRAME_PATTERN = "image_{:06d}.jpg"


def ava_window_start(timestamp: int) -> int:
    """First frame number of the 90-frame window around AVA keyframe second ``timestamp``."""
    return (int(timestamp) - AVA_FIRST_SECOND) * AVA_FPS - KEYFRAME_OFFSET


def ava_keyframe_index(timestamp: int) -> int:
    """Frame number of the keyframe (window offset 45)."""
    return ava_window_start(timestamp) + KEYFRAME_OFFSET


def clip_offsets(clip: int, window: int = WINDOW_FRAMES, frames: int = CLIP_FRAMES) -> tuple[int, ...]:
    """Window offsets of evaluation clip ``clip``: ``linspace(clip, window - 1, frames)`` as int."""
    n = window // frames
    if not 0 <= clip < n:
        raise ValueError(f"clip {clip} out of range: a {window}-frame window has {n} clips of {frames} frames")
    return tuple(int(x) for x in np.linspace(clip, window - 1, frames).astype(int))


def ava_clip_frames(timestamp: int, clip: int, repeated_frame_bug: bool = False) -> tuple[int, ...]:
    """Absolute frame numbers of evaluation clip ``clip`` for keyframe second ``timestamp``.

    ``repeated_frame_bug=True`` reproduces the official loader (every position reads the window's
    first frame); the default reads the real frames.
    """
    start = ava_window_start(timestamp)
    offsets = clip_offsets(clip)
    if repeated_frame_bug:
        return tuple(start for _ in offsets)
    return tuple(start + o for o in offsets)


def ava_frame_time(frame: int) -> float:
    """Movie time (seconds) of AVA frame number ``frame`` (frame 0 at 900 s, 30 fps)."""
    return AVA_FIRST_SECOND + frame / AVA_FPS


def _resize(img, size: tuple[int, int] | None):
    """PIL image resized to ``size`` = (height, width) with bilinear filtering (or unchanged)."""
    if size is None:
        return img
    from PIL import Image

    h, w = size
    if img.size == (w, h):
        return img
    return img.resize((w, h), Image.BILINEAR)


def _read_image(path: Path, size):
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return _resize(im.convert("RGB"), size)
    except FileNotFoundError:
        raise MediaDecodeError(f"frame file not found: {path}") from None
    except Exception as e:  # PIL raises many types for corrupt data
        raise MediaDecodeError(f"cannot decode frame {path}: {type(e).__name__}: {e}") from None


def _stack(frames: list, what: str) -> np.ndarray:
    arrs = [np.asarray(f.convert("RGB") if hasattr(f, "convert") else f, dtype=np.uint8) for f in frames]
    shapes = {a.shape for a in arrs}
    if len(shapes) != 1:
        raise MediaDecodeError(f"{what}: frames have different sizes {sorted(shapes)}; pass a size to resize them")
    return np.stack(arrs)


# --------------------------------------------------------------------------- frame folders


@dataclass(frozen=True)
class FrameFolderClip:
    """Frames ``directory / pattern.format(n)`` for each frame number ``n`` of ``frames``.

    ``load()`` -> ``uint8`` array (T, H, W, 3); ``size`` = (height, width) resizes each frame
    (None keeps the stored size; frames of different sizes are then an error). A missing or
    undecodable frame raises :class:`~mmharness.requests.MediaDecodeError` naming the file.
    """

    directory: str
    frames: tuple[int, ...]
    pattern: str = FRAME_PATTERN
    size: tuple[int, int] | None = None
    modality: str = "video"

    def path(self, n: int) -> Path:
        """Path of frame number ``n``."""
        return Path(self.directory) / self.pattern.format(n)

    def load(self) -> np.ndarray:
        if not self.frames:
            raise MediaDecodeError(f"no frame requested from {self.directory}")
        if any(n < 0 for n in self.frames):
            raise MediaDecodeError(f"negative frame number in {list(self.frames)} for {self.directory} "
                                   "(keyframe too close to the start of the extracted frames)")
        cache: dict[int, np.ndarray] = {}
        out = []
        for n in self.frames:
            if n not in cache:
                cache[n] = np.asarray(_read_image(self.path(n), self.size), dtype=np.uint8)
            out.append(cache[n])
        return _stack(out, self.describe())

    def describe(self) -> str:
        first, last = min(self.frames), max(self.frames)
        return f"{self.directory}/{self.pattern} frames {first}..{last} ({len(self.frames)} frames)"


@dataclass(frozen=True)
class FrameFile:
    """One frame image file, optionally resized to ``size`` = (height, width) -> PIL RGB image."""

    path: str
    size: tuple[int, int] | None = None
    modality: str = "image"

    def load(self):
        return _read_image(Path(self.path), self.size)

    def describe(self) -> str:
        return self.path


# --------------------------------------------------------------------------- video files (PyAV)


def video_duration(path: str) -> float:
    """Duration of the first video stream of ``path`` in seconds (from the container metadata,
    else by decoding). Raises :class:`MediaDecodeError` when the file cannot be read."""
    with open_media(path, "video") as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return float(container.duration) / 1_000_000.0
        last = 0.0
        for frame in container.decode(stream):
            if frame.time is not None:
                last = float(frame.time)
        return last


def decode_frames_at(path: str, times, size: tuple[int, int] | None = None) -> list:
    """PIL frames of video ``path`` nearest to each time in ``times`` (seconds), in input order.

    Seeks to the earliest time (minus one second, to the preceding keyframe) and decodes forward
    once. A time beyond the end by more than one frame period is an error, as is an undecodable
    file; both raise :class:`MediaDecodeError` naming the file.
    """
    times = [float(t) for t in times]
    if not times:
        raise MediaDecodeError(f"no frame time requested from {path}")
    with open_media(path, "video") as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 30.0
        period = 1.0 / rate if rate > 0 else 1.0 / 30.0
        order = sorted(range(len(times)), key=lambda i: times[i])
        start = max(0.0, times[order[0]] - 1.0)
        if start > 0 and stream.time_base is not None:
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
        out: list = [None] * len(times)
        converted: dict[int, object] = {}
        k = 0
        prev = None  # (time, frame, serial)
        serial = 0

        def image(entry):
            if entry[2] not in converted:
                converted[entry[2]] = _resize(entry[1].to_image().convert("RGB"), size)
            return converted[entry[2]]

        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else (prev[0] + period if prev else 0.0)
            cur = (t, frame, serial)
            serial += 1
            while k < len(order) and times[order[k]] <= t:
                target = times[order[k]]
                best = cur if prev is None or abs(t - target) <= abs(target - prev[0]) else prev
                out[order[k]] = image(best)
                k += 1
            if k == len(order):
                break
            prev = cur
            converted = {s: v for s, v in converted.items() if s >= prev[2]}
        while k < len(order):  # times after the last decoded frame
            target = times[order[k]]
            if prev is None or target - prev[0] > period * 1.5:
                end = "no frame" if prev is None else f"the last frame at {prev[0]:.3f} s"
                raise MediaDecodeError(f"{path}: frame at {target:.3f} s requested but the video has {end}")
            out[order[k]] = image(prev)
            k += 1
        return out


@dataclass(frozen=True)
class VideoFileClip:
    """Frames of a video file nearest to ``times`` (seconds) -> ``uint8`` array (T, H, W, 3)."""

    path: str
    times: tuple[float, ...]
    size: tuple[int, int] | None = None
    modality: str = "video"

    def load(self) -> np.ndarray:
        return _stack(decode_frames_at(self.path, self.times, self.size), self.describe())

    def describe(self) -> str:
        return f"{self.path} at {min(self.times):.3f}..{max(self.times):.3f} s ({len(self.times)} frames)"


@dataclass(frozen=True)
class VideoFileFrame:
    """One frame of a video file (nearest to ``time`` seconds), optionally resized -> PIL image."""

    path: str
    time: float
    size: tuple[int, int] | None = None
    modality: str = "image"

    def load(self):
        return decode_frames_at(self.path, [self.time], self.size)[0]

    def describe(self) -> str:
        return f"{self.path} at {self.time:.3f} s"


def uniform_times(duration: float, num_frames: int) -> tuple[float, ...]:
    """Centres of ``num_frames`` equal segments of ``[0, duration]``."""
    if num_frames < 1:
        raise ValueError("num_frames must be positive")
    return tuple((i + 0.5) * duration / num_frames for i in range(num_frames))


@dataclass(frozen=True)
class VideoFileUniform:
    """``num_frames`` frames at the centres of equal segments of a whole video file -> (T, H, W, 3)."""

    path: str
    num_frames: int = 8
    size: tuple[int, int] | None = None
    modality: str = "video"

    def load(self) -> np.ndarray:
        duration = video_duration(self.path)
        if duration <= 0:
            raise MediaDecodeError(f"{self.path}: the video has no duration")
        return _stack(decode_frames_at(self.path, uniform_times(duration, self.num_frames), self.size),
                      self.describe())

    def describe(self) -> str:
        return f"{self.path} ({self.num_frames} uniform frames)"
