"""Audio decoding with PyAV (no torchaudio): any container with an audio stream (wav, mp4, ...).

:class:`AudioFile` is a light media reference whose ``load()`` (run in DataLoader workers) returns
a mono ``float32`` waveform in [-1, 1] at ``sample_rate`` Hz (16 kHz by default, the rate of the
WavLM features used by MIntRec2.0), optionally cut to ``[start, end)`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .av_media import open_media

DEFAULT_SAMPLE_RATE = 16000


def decode_audio(path: str, sample_rate: int = DEFAULT_SAMPLE_RATE, start: float | None = None,
                 end: float | None = None) -> np.ndarray:
    """Mono float32 waveform of the first audio stream of ``path``, resampled to ``sample_rate``.

    Raises :class:`~mmharness.requests.MediaDecodeError` naming the file when it is missing, has no
    audio stream, or cannot be decoded.
    """
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with open_media(path, "audio") as container:
        import av

        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):  # flush
            chunks.append(out.to_ndarray().reshape(-1))
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
    lo = 0 if start is None else max(0, int(round(start * sample_rate)))
    hi = wave.shape[0] if end is None else min(wave.shape[0], int(round(end * sample_rate)))
    return wave[lo:hi]


@dataclass(frozen=True)
class AudioFile:
    """The audio of a file as a mono float32 waveform at ``sample_rate`` Hz (modality ``"audio"``)."""

    path: str
    sample_rate: int = DEFAULT_SAMPLE_RATE
    start: float | None = None
    end: float | None = None
    modality: str = "audio"

    def load(self) -> np.ndarray:
        return decode_audio(self.path, self.sample_rate, self.start, self.end)

    def describe(self) -> str:
        span = "" if self.start is None and self.end is None else f" [{self.start}, {self.end}) s"
        return f"{self.path}{span} (audio, {self.sample_rate} Hz)"
