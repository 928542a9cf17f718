"""python -m ava.verbalize: the text an LLM reads for one media item (a stable, documented layout).

    Media: <image|video|audio>[, WxH (aspect)][, N.N s][, K scenes][, F faces][, all frames blank]
    Colours: <name NN%, ...>
    Not available: <no captioner loaded; no CLIP model loaded (no tags); ...>
    Scene i [start-end s]:                     (videos: one block per scene; images: "Image:")
      Caption: <the captioner's description>
      Objects: <the captioner's answer to the objects prompt>
      Tags: <CLIP zero-shot tags; ...>
      Faces: <F>
      On-screen text: <OCR lines joined by " / ">
      Speech: "<words spoken during the scene>"
      Sound: <kind (whole scene) | kind start-end s, ...; ...>   (speech, singing, music)
    Audio: <kinds heard | other sound | silence | no audio track> (audio-only media: as "Sound", with ranges)
           [; N.N s of speech not transcribed (language xx | languages xx, yy)]
    Transcript: "<all speech>"

The ad's advertiser and copy are not repeated here: ``python -m ava.build_dataset`` puts them in every prompt
beside this text (ava/build_dataset/tasks/base.py ``describe_ad``, labelled by conf/dataset_tasks' ``ad_fields``),
and the row keeps its own columns. What an encoder could not give is said once per item ("Not available"), not per
scene. Width and height are as displayed. A scene whose keyframe is blank reads "blank frame". Lines whose value is
empty are left out; nothing else varies, so the same inputs give the same text.
"""

from __future__ import annotations

from math import gcd
from typing import Any

# An event reaching both ends of a scene to within this is named without its range ("music").
WHOLE_SCENE_S = 0.25


def _aspect(width: int, height: int) -> str:
    d = gcd(width, height) or 1
    w, h = width // d, height // d
    return f"{w}:{h}" if w <= 50 and h <= 50 else f"{width / height:.2f}:1"


def _events(events: list[dict], start: float | None = None, end: float | None = None) -> str:
    """"music; speech 3.1-5.8 s": each kind, with its ranges unless it covers [start, end] whole."""
    kinds: dict[str, list[tuple[float, float]]] = {}
    for ev in events:
        kinds.setdefault(ev["kind"], []).append((ev["start"], ev["end"]))
    parts = []
    for kind, ranges in sorted(kinds.items()):
        whole = (start is not None and len(ranges) == 1 and ranges[0][0] - start <= WHOLE_SCENE_S
                 and end - ranges[0][1] <= WHOLE_SCENE_S)
        parts.append(kind if whole else f"{kind} " + ", ".join(f"{s:.1f}-{e:.1f} s" for s, e in ranges))
    return "; ".join(parts)


def _untranscribed(row: dict[str, Any]) -> str:
    """"language de" / "languages de, fr": of the voiced spans that gave no words, most seconds first."""
    secs: dict[str, float] = {}
    for sp in row.get("speech_spans") or []:
        if sp["outcome"] != "transcribed":
            secs[sp["language"] or "unknown"] = secs.get(sp["language"] or "unknown", 0.0) + sp["end"] - sp["start"]
    langs = sorted(secs, key=lambda lang: -secs[lang]) or ["unknown"]
    return f"language{'s' if len(langs) > 1 else ''} {', '.join(langs)}"


def missing(row: dict[str, Any]) -> list[str]:
    """What no encoder of this run could say about the item (once per item)."""
    out = []
    if row["media_type"] in ("image", "video") and not row.get("blank"):
        if row.get("caption_backend") is None:
            out.append("no captioner loaded")
        if (row.get("vision_backend") or "none") == "none":
            out.append("no CLIP model loaded (no tags)")
        if row.get("faces") is None:
            out.append("no face detector")
    if row["media_type"] in ("video", "audio") and row.get("audio") != "no audio track" \
            and row.get("audio_events") is None:
        out.append("no audio event detector")
    return out


def render(row: dict[str, Any]) -> str:
    """Verbalization of one media ``row`` (a verbalized-schema dict)."""
    lines: list[str] = []

    def add(label: str, value: str, indent: str = "") -> None:
        if value:
            lines.append(f"{indent}{label}: {value}")

    parts = [row["media_type"]]
    if row.get("width") and row.get("height"):
        parts.append(f"{row['width']}x{row['height']} ({_aspect(row['width'], row['height'])})")
    if row.get("duration_s"):
        parts.append(f"{row['duration_s']:.1f} s")
    scenes = row.get("scenes") or []
    if row["media_type"] == "video":
        parts.append(f"{len(scenes)} scene{'s' if len(scenes) != 1 else ''}")
    if row.get("faces") is not None:
        parts.append(f"{row['faces']} face{'s' if row['faces'] != 1 else ''}")
    if row.get("blank"):
        parts.append("all frames blank")
    add("Media", ", ".join(parts))
    add("Colours", ", ".join(c.split(" #")[0] + " " + c.rsplit(" ", 1)[-1] for c in row.get("colours") or []))
    add("Not available", "; ".join(missing(row)))
    for scene in scenes:
        head = ("Image" if row["media_type"] == "image"
                else f"Scene {scene['index'] + 1} [{scene['start']:.1f}-{scene['end']:.1f} s]")
        lines.append(f"{head}: blank frame" if scene.get("blank") else f"{head}:")
        if not scene.get("blank"):
            add("Caption", scene.get("caption") or "", "  ")
            add("Objects", scene.get("objects") or "", "  ")
            add("Tags", "; ".join(scene.get("tags") or []), "  ")
            add("Faces", str(scene["faces"]) if scene.get("faces") else "", "  ")
            add("On-screen text", " / ".join((scene.get("ocr_text") or "").splitlines()), "  ")
        if scene.get("transcript"):
            lines.append(f'  Speech: "{scene["transcript"]}"')
        if scene.get("start") is not None:
            add("Sound", _events(scene.get("audio_events") or [], scene["start"], scene["end"]), "  ")
    audio = row.get("audio") or ""
    if not scenes and row.get("audio_events"):  # audio-only media: the ranges, as a scene would show them
        audio = _events(row["audio_events"])
    if audio and (row.get("speech_untranscribed_s") or 0) >= 0.1:
        audio += f"; {row['speech_untranscribed_s']:.1f} s of speech not transcribed ({_untranscribed(row)})"
    add("Audio", audio)
    if row.get("transcript"):
        lines.append(f'Transcript: "{row["transcript"]}"')
    return "\n".join(lines)
