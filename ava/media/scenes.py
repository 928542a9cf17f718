"""python -m ava.verbalize: scene cuts of a video with PySceneDetect's content detector."""

from __future__ import annotations

from pathlib import Path


def detect_scenes(path: Path, duration_s: float, threshold: float, min_scene_len_s: float,
                  max_scenes: int) -> list[tuple[float, float]]:
    """(start, end) seconds of each scene; one scene spanning the video when no cut is found.

    When there are more than ``max_scenes`` scenes the longest ones are kept, in time order, so that a
    flickering video cannot blow up the verbalization.
    """
    from scenedetect import ContentDetector, detect

    scenes: list[tuple[float, float]] = []
    found = detect(str(path), ContentDetector(threshold=threshold, min_scene_len=1))
    for start, end in found:
        s, e = start.seconds, end.seconds
        if scenes and e - s < min_scene_len_s:  # too short to be a scene of its own: extend the previous
            scenes[-1] = (scenes[-1][0], e)
        else:
            scenes.append((s, e))
    if not scenes:
        return [(0.0, float(duration_s))]
    if len(scenes) > max_scenes:
        scenes = sorted(sorted(scenes, key=lambda se: se[0] - se[1])[:max_scenes])
    return scenes
