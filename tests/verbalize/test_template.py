"""The verbalization text: what each encoder saw per scene, what was unavailable once, no ad copy or hex codes."""

from ava.verbalize.template import render


def scene(i, **fields):
    return {"index": i, "start": 3.0 * i, "end": 3.0 * (i + 1), "blank": False, "tags": [], "ocr_text": "",
            "transcript": "", "faces": 0, **fields}


def video(**fields):
    return {"media_type": "video", "width": 640, "height": 360, "duration_s": 6.0, "faces": 1,
            "colours": ["blue #1f4d9b 93%", "grey #788ea5 7%"], "vision_backend": "open_clip:x", "caption_backend": "t",
            "audio": "music, speech", "audio_events": [], "transcript": "hi there", **fields}


def test_each_encoder_per_scene():
    text = render(video(scenes=[
        scene(0, caption="a woman holding shoes", objects="shoes, bag", tags=["setting: store"], faces=1,
              ocr_text="SUMMER SALE\n50% OFF", transcript="hi",
              audio_events=[{"kind": "music", "start": 0.0, "end": 3.0}, {"kind": "speech", "start": 1.1, "end": 2.0}]),
        scene(1, blank=True)]))
    assert text.splitlines() == [
        "Media: video, 640x360 (16:9), 6.0 s, 2 scenes, 1 face",
        "Colours: blue 93%, grey 7%",
        "Scene 1 [0.0-3.0 s]:",
        "  Caption: a woman holding shoes",
        "  Objects: shoes, bag",
        "  Tags: setting: store",
        "  Faces: 1",
        "  On-screen text: SUMMER SALE / 50% OFF",
        '  Speech: "hi"',
        "  Sound: music; speech 1.1-2.0 s",
        "Scene 2 [3.0-6.0 s]: blank frame",
        "Audio: music, speech",
        'Transcript: "hi there"',
    ]


def test_what_is_missing_is_said_once_not_per_scene():
    text = render(video(vision_backend="none", caption_backend=None, audio_events=None,
                        scenes=[scene(0), scene(1)]))
    assert text.count("no captioner loaded") == 1 and "no tags" not in text.replace("(no tags)", "")
    assert "Not available: no captioner loaded; no CLIP model loaded (no tags); no audio event detector" in text
    assert "Scene 1 [0.0-3.0 s]:\nScene 2 [3.0-6.0 s]:\n" in text
    no_aed = render({"media_type": "audio", "duration_s": 2.0, "audio": None, "scenes": [], "transcript": "hi"})
    assert "Not available: no audio event detector" in no_aed  # audio=none: the track is there, unclassified
    assert "Not available" not in render({"media_type": "video", "audio": "no audio track", "faces": 0,
                                          "caption_backend": "t", "vision_backend": "v", "scenes": []})


def test_audio_only_shows_its_ranges_and_silence_as_silence():
    assert render({"media_type": "audio", "duration_s": 4.8, "audio": "speech", "scenes": [],
                   "audio_events": [{"kind": "speech", "start": 0.0, "end": 4.6}]}).splitlines() == [
        "Media: audio, 4.8 s", "Audio: speech 0.0-4.6 s"]
    assert render({"media_type": "audio", "duration_s": 2.0, "audio": "silence", "scenes": [],
                   "audio_events": []}).splitlines() == ["Media: audio, 2.0 s", "Audio: silence"]
