"""python -m ava.verbalize: the text an LLM reads for one media item (a stable, documented layout).

    Advertiser: <page_name>
    Ad text: <ad_creative_bodies, joined by " | ">
    Headline: <ad_creative_link_titles, joined by " | ">
    Creative: <image|video|audio>[, WxH (aspect)][, N.N s][, K scenes][, F faces][, all frames blank]
    Colours: <name #hex NN%, ...>
    Scene i [start-end s]: <tags; ...>          (videos: one block per scene; images: "Image: ...")
      On-screen text: <OCR lines joined by " / ">
      Speech: "<words spoken during the scene>"
    Audio: <speech | music or other sound | silence | no audio track>[; N.N s of speech not transcribed (language xx)]
    Transcript: "<all speech>"

Width and height are as displayed (a phone video with a 90° display matrix is portrait). A scene whose
keyframe is blank reads "blank frame" instead of its tags.

Lines whose value is empty are left out; nothing else varies, so the same inputs give the same text.
"""

from __future__ import annotations

from math import gcd
from typing import Any


def _aspect(width: int, height: int) -> str:
    d = gcd(width, height) or 1
    w, h = width // d, height // d
    return f"{w}:{h}" if w <= 50 and h <= 50 else f"{width / height:.2f}:1"


def _join(values: Any) -> str:
    return " | ".join(str(v).strip() for v in (values or []) if str(v).strip())


def render(ad: dict[str, Any], row: dict[str, Any]) -> str:
    """Verbalization of one media ``row`` (a verbalized-schema dict) of manifest record ``ad``."""
    lines: list[str] = []

    def add(label: str, value: str) -> None:
        if value:
            lines.append(f"{label}: {value}")

    add("Advertiser", str(ad.get("page_name") or "").strip())
    add("Ad text", _join(ad.get("ad_creative_bodies")))
    add("Headline", _join(ad.get("ad_creative_link_titles")))
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
    add("Creative", ", ".join(parts))
    add("Colours", ", ".join(row.get("colours") or []))
    for scene in scenes:
        head = ("Image" if row["media_type"] == "image"
                else f"Scene {scene['index'] + 1} [{scene['start']:.1f}-{scene['end']:.1f} s]")
        lines.append(f"{head}: {'blank frame' if scene.get('blank') else '; '.join(scene['tags']) or 'no tags'}")
        if scene["ocr_text"]:
            lines.append(f"  On-screen text: {' / '.join(scene['ocr_text'].splitlines())}")
        if scene["transcript"]:
            lines.append(f'  Speech: "{scene["transcript"]}"')
    audio = row.get("audio") or ""
    if audio and (row.get("speech_untranscribed_s") or 0) >= 0.1:
        audio += (f"; {row['speech_untranscribed_s']:.1f} s of speech not transcribed"
                  f" (language {row.get('speech_language') or 'unknown'})")
    add("Audio", audio)
    if row.get("transcript"):
        lines.append(f'Transcript: "{row["transcript"]}"')
    return "\n".join(lines)
