"""Killing the verbalizer at any moment and rerunning gives the rows of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq

from ava.encoders.clip import ClipEncoder
from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize


def command(manifest, out, overrides):
    return [sys.executable, "-m", "ava.verbalize", f"input={manifest}", f"output_dir={out}", "shard_size=1",
            "asr=none", *overrides]


def rows(out):
    table = pq.read_table(out / "verbalized")
    return sorted(table.to_pylist(), key=lambda r: (r["manifest_line"], r["media_index"]))


def test_kill_and_resume_matches_uninterrupted_run(tmp_path, sample_copy, tiny_overrides):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(command(sample_copy, full, tiny_overrides), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(command(sample_copy, killed, tiny_overrides), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    # the default pool finishes shards out of order: wait for any two
    while len(list((killed / "verbalized").glob("shard-*.parquet"))) < 2:
        assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list((killed / "verbalized").glob("shard-*.parquet")))
    assert 2 <= done_before < 5

    result = subprocess.run(command(sample_copy, killed, tiny_overrides), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    summary = json.loads((killed / "verbalize_summary.json").read_text())
    assert summary["items"]["skipped_already_done"] >= 2
    assert summary["items"]["processed_this_run"] + summary["items"]["skipped_already_done"] == 6
    assert not list((killed / "verbalized").glob(".*"))
    assert rows(killed) == rows(full)


def test_rerun_skips_and_retry_failed_redoes_only_errors(tmp_path, sample_copy, tiny_overrides):
    media = sample_copy.parent / "media"
    (media / "course.png").rename(media / "course.bak")
    cfg = compose_verbalize([f"input={sample_copy}", f"output_dir={tmp_path / 'out'}", "asr=none", *tiny_overrides])
    first = verbalize(cfg)
    assert first["items"]["error"] == 1 and first["error_kinds"] == {"missing_file": 1}
    before = {(r["ad_id"], r["media_index"]): r for r in rows(tmp_path / "out")}

    again = verbalize(cfg)  # plain rerun: nothing to do, failed item stays failed
    assert again["items"]["processed_this_run"] == 0 and again["items"]["error"] == 1

    (media / "course.bak").rename(media / "course.png")
    cfg.retry_failed = True
    retried = verbalize(cfg)
    assert retried["items"]["processed_this_run"] == 1
    assert retried["items"]["ok"] == 6 and retried["items"]["error"] == 0
    after = {(r["ad_id"], r["media_index"]): r for r in rows(tmp_path / "out")}
    assert after[("100000000000005", 0)]["status"] == "ok"
    for key, row in before.items():
        if key != ("100000000000005", 0):
            assert after[key] == row


def test_changed_settings_redo_the_shard(tmp_path, sample_copy, tiny_overrides):
    base = [f"input={sample_copy}", f"output_dir={tmp_path / 'out'}", "asr=none", "ocr=none", *tiny_overrides]
    verbalize(compose_verbalize(base))
    redo = verbalize(compose_verbalize([*base, "media.max_scenes=2"]))
    assert redo["items"]["processed_this_run"] == 6


def test_weights_from_a_local_file_load_with_the_real_loader(tiny_clip_config, tiny_clip_weights, samples_dir):
    import open_clip
    import torch
    from PIL import Image

    open_clip.add_model_config(tiny_clip_config)
    enc = ClipEncoder("ava-tiny-clip", str(tiny_clip_weights), {"x": ["a", "b"]}, config_path=str(tiny_clip_config))
    torch.manual_seed(0)
    ref = open_clip.create_model("ava-tiny-clip", pretrained=None).eval()
    img = Image.open(samples_dir / "media" / "coffee.png").convert("RGB")
    with torch.inference_mode():
        want = torch.nn.functional.normalize(ref.encode_image(enc.preprocess(img)[None]), dim=-1).numpy()
    np.testing.assert_allclose(enc.embed([img]), want, rtol=1e-5, atol=1e-6)
    assert enc.name == "open_clip:ava-tiny-clip/tiny.safetensors"


def test_rerun_after_weights_appear_redoes_the_shards_without_them(tmp_path, sample_copy, tiny_clip_config,
                                                                   tiny_clip_weights, monkeypatch):
    """A run without CLIP weights writes rows without embeddings; once the weights file is there, a rerun
    redoes exactly those shards (not the config's fingerprint: the resolved weights'), and then nothing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # "no weights" must not depend on this machine's network
    weights = tmp_path / "weights" / "clip.safetensors"
    cfg = compose_verbalize([f"input={sample_copy}", f"output_dir={tmp_path / 'out'}", "asr=none", "ocr=none",
                             "shard_size=2", "progress=false", "executor.workers=0",
                             "encoders.vision.model=ava-tiny-clip", f"encoders.vision.pretrained={weights}",
                             f"encoders.vision.config_path={tiny_clip_config}"])
    first = verbalize(cfg)
    assert first["items"]["processed_this_run"] == 6 and "vision" not in first["encoders"]
    assert all(r["embedding"] is None and r["vision_backend"] == "none" for r in rows(tmp_path / "out"))
    assert verbalize(cfg)["items"]["processed_this_run"] == 0  # still no weights: nothing new

    weights.parent.mkdir()
    weights.write_bytes(tiny_clip_weights.read_bytes())  # the user supplies them
    after = verbalize(cfg)
    assert after["items"]["processed_this_run"] == 6 and after["items"]["skipped_already_done"] == 0
    assert after["encoders"]["vision"] == "open_clip:ava-tiny-clip/clip.safetensors"
    for r in rows(tmp_path / "out"):
        assert r["vision_backend"] == "open_clip:ava-tiny-clip/clip.safetensors"
        assert (r["embedding"] is None) == (r["media_type"] == "audio")
    again = verbalize(cfg)
    assert again["items"]["processed_this_run"] == 0 and again["items"]["skipped_already_done"] == 6


def test_other_weights_under_the_same_name_redo_the_shards(tmp_path, sample_copy, tiny_clip_config, tiny_clip_weights):
    import open_clip
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "clip.safetensors"
    weights.write_bytes(tiny_clip_weights.read_bytes())
    cfg = compose_verbalize([f"input={sample_copy}", f"output_dir={tmp_path / 'out'}", "asr=none", "ocr=none",
                             "progress=false", "executor.workers=0", "encoders.vision.model=ava-tiny-clip",
                             f"encoders.vision.pretrained={weights}",
                             f"encoders.vision.config_path={tiny_clip_config}"])
    verbalize(cfg)
    open_clip.add_model_config(tiny_clip_config)
    torch.manual_seed(1)  # retrained weights, same file name
    save_file({k: v.contiguous() for k, v in open_clip.create_model("ava-tiny-clip").state_dict().items()}, weights)
    assert verbalize(cfg)["items"]["processed_this_run"] == 6
