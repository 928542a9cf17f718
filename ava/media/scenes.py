"""python -m ava.verbalize: scene cuts of a video with PySceneDetect's content detector."""

from __future__ import annotations

import math
from pathlib import Path


def frame_step(n_frames: int, max_frames: int | None) -> int:
    """Analyse every ``step``-th frame so that at most ``max_frames`` frames reach the detector."""
    if max_frames is None or n_frames <= max_frames:
        return 1
    return math.ceil(n_frames / max_frames)


def detect_scenes(path: Path, duration_s: float, threshold: float, min_scene_len_s: float,
                  max_scenes: int, max_frames: int | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of each scene; one scene spanning the video when no cut is found.

    Scene ends are clipped to ``duration_s`` (PySceneDetect times frames by their number at the nominal rate).
    When there are more than ``max_scenes`` scenes the longest ones are kept, in time order, so that a
    flickering video cannot blow up the verbalization. A video of more than ``max_frames`` frames is sampled
    evenly (PySceneDetect's ``frame_skip``): hard cuts are still found, to within the sampling step.
    """
    from scenedetect import ContentDetector, SceneManager, open_video

    video = open_video(str(path))
    n_frames = max(video.duration.frame_num, round(float(video.frame_rate) * duration_s))
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=1))
    manager.detect_scenes(video, frame_skip=frame_step(n_frames, max_frames) - 1)
    scenes: list[tuple[float, float]] = []
    for start, end in manager.get_scene_list():
        # frame numbers over the nominal rate: a variable-frame-rate video's last scene ended at 4.35 s of 3.98
        s, e = min(start.seconds, duration_s), min(end.seconds, duration_s)
        if s >= duration_s:
            break
        if scenes and e - s < min_scene_len_s:  # too short to be a scene of its own: extend the previous
            scenes[-1] = (scenes[-1][0], e)
        else:
            scenes.append((s, e))
    if not scenes:
        return [(0.0, float(duration_s))]
    if len(scenes) > max_scenes:
        scenes = sorted(sorted(scenes, key=lambda se: se[0] - se[1])[:max_scenes])
    return scenes
