"""Speech the model cannot transcribe is reported, not hidden: espeak-ng English, German and both, made here."""

import shutil
import subprocess

import pytest

from ava.encoders.asr import Segment, WhisperASR, untranscribed_seconds
from ava.media.ffmpeg import audio_pcm
from ava.verbalize.template import render

from .conftest import ffmpeg

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng not installed (tools/install_system_deps.sh installs it)")
ENGLISH = "Vote yes on measure five. Clean water for every family."
GERMAN = "Guten Tag. Heute ist das Wetter schön, und wir gehen in den Park."


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    for name, voice, text in [("en", "en-us", ENGLISH), ("de", "de", GERMAN)]:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(root / f"{name}.wav"), text], check=True)
    ffmpeg("-i", str(root / "en.wav"), "-i", str(root / "de.wav"), "-f", "lavfi", "-t", "1", "-i",
           "anullsrc=r=22050:cl=mono", "-filter_complex", "[0][2][1]concat=n=3:v=0:a=1", str(root / "both.wav"))
    return {name: audio_pcm(root / f"{name}.wav") for name in ("en", "de", "both")}


@pytest.fixture(scope="module")
def asr():
    return WhisperASR("tiny.en", compute_type="int8")


def test_language_comes_from_the_ad(asr):
    assert asr.pick_language({"languages": ["de"]}) == "de"
    assert asr.pick_language({"languages": ["en", "de"]}) == "en"  # several: default_language
    assert asr.pick_language({}) == "en"


def test_english_is_transcribed_in_full(asr, clips):
    t = asr.transcribe(clips["en"], "en")
    assert "clean water for every family" in t.text.lower()
    assert t.untranscribed_s == 0


def test_german_ad_with_an_english_only_model_says_not_transcribed(asr, clips):
    t = asr.transcribe(clips["de"], "de")
    assert t.text == ""
    assert t.untranscribed_s == pytest.approx(len(clips["de"]) / 16000, abs=0.5)
    text = render({"media_type": "audio", "audio": "speech", "speech_untranscribed_s": t.untranscribed_s,
                   "speech_language": t.language, "transcript": t.text, "scenes": []})
    assert f"Audio: speech; {t.untranscribed_s:.1f} s of speech not transcribed (language de)" in text


def test_bilingual_clip_keeps_the_english_half_and_counts_the_german_half(asr, clips):
    t = asr.transcribe(clips["both"], "en")
    assert "clean water for every family" in t.text.lower()
    assert t.text.lower().count("clean water") == 1  # the German half is not read as a repeat of the English
    german_s = len(clips["de"]) / 16000
    assert t.untranscribed_s == pytest.approx(german_s, abs=1.0)


@pytest.fixture(scope="module")
def multilingual():
    return WhisperASR("tiny.en", compute_type="int8", multilingual_model="base")


def test_german_ad_goes_to_the_bundled_multilingual_base_model(multilingual, clips):
    t = multilingual.transcribe(clips["de"], "de")
    assert multilingual._multilingual.model.is_multilingual  # base was loaded for the German ad
    said = set(t.text.lower().replace(",", " ").replace(".", " ").split())
    want = GERMAN.lower().replace(",", " ").replace(".", " ").split()
    assert sum(w in said for w in want) / len(want) >= 0.8, t.text  # base read "das Metaschön" for "das Wetter schön"
    assert t.untranscribed_s < 1.0


def test_untranscribed_seconds_counts_chunks_without_words():
    chunks = [(0.0, 2.0), (3.0, 5.5)]
    assert untranscribed_seconds(chunks, [Segment(0.5, 0.9, "hi")]) == pytest.approx(2.5)
    assert untranscribed_seconds(chunks, []) == pytest.approx(4.5)
    assert untranscribed_seconds(chunks, [Segment(1.0, 1.2, "a"), Segment(4.0, 4.1, "b")]) == 0
