"""The captioner group on a tiny randomly initialised BLIP saved here and loaded through the real loader."""

import pytest
from PIL import Image

from ava.encoders.base import Item, WeightsUnavailable, file_sha256, run_encoder
from ava.encoders.caption import TransformersCaptioner
from ava.media.decode import Decoded, Scene

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"a an the of photo picture sale shoes red blue man woman "
         "text sign car dog in on with and".split(), *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    path = tmp_path_factory.mktemp("blip") / "tiny-blip"
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)}, model_max_length=64)
    images = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=images, tokenizer=tok).save_pretrained(path)
    layer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    cfg = BlipConfig(vision_config={**layer, "image_size": 32, "patch_size": 8}, projection_dim=32,
                     text_config={**layer, "vocab_size": len(WORDS), "max_position_embeddings": 64,
                                  "bos_token_id": 2, "sep_token_id": 3, "pad_token_id": 0, "eos_token_id": 3})
    torch.manual_seed(0)
    BlipForConditionalGeneration(cfg).save_pretrained(path)
    return path


def frames():
    img = Image.new("RGB", (64, 48), "white")
    img.paste(Image.new("RGB", (30, 20), "red"), (5, 5))
    return [img, Image.new("RGB", (64, 48), "blue"), Image.effect_noise((64, 48), 60).convert("RGB")]


def item(images, blank=()):
    scenes = [Scene(i, float(i), float(i + 1), im, i in blank) for i, im in enumerate(images)]
    row = {"media_path": "x.mp4", "scenes": [{"index": s.index} for s in scenes]}
    return Item(row, Decoded("video", 64, 48, float(len(scenes)), scenes), {})


def reference(path, images, prompt=None):
    """What the model says for each image alone, through transformers directly."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    proc = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    out = []
    for im in images:
        inputs = proc(images=im, text=prompt, return_tensors="pt") if prompt else proc(images=im, return_tensors="pt")
        ids = model.generate(**inputs, max_new_tokens=8, min_new_tokens=3, do_sample=False, num_beams=1)
        out.append(proc.batch_decode(ids, skip_special_tokens=True)[0].strip())
    return out


def test_one_caption_per_keyframe_batched_as_alone(tiny_blip):
    cap = TransformersCaptioner(str(tiny_blip), batch_size=2, max_new_tokens=8)
    cap.model.generation_config.min_new_tokens = 3  # a random model may stop at once; make it say something
    images = frames()
    it = item(images, blank={1})
    cap.encode([it])
    want = reference(tiny_blip, [images[0], images[2]])
    assert [s["caption"] for s in it.row["scenes"]] == [want[0], "", want[1]]
    assert all(want) and it.row["caption_backend"] == "transformers:tiny-blip"
    assert "objects" not in it.row["scenes"][0]  # no objects prompt configured


def test_prompts_give_caption_and_objects_without_the_prompt(tiny_blip):
    cap = TransformersCaptioner(str(tiny_blip), prompts={"caption": "a picture of", "objects": "the sign on the"},
                                batch_size=8, max_new_tokens=8)
    cap.model.generation_config.min_new_tokens = 3
    images = frames()[:2]
    it = item(images)
    cap.encode([it])
    full = reference(tiny_blip, images, "a picture of")
    assert all(f.startswith("a picture of") for f in full)  # BLIP repeats the prompt ...
    assert [s["caption"] for s in it.row["scenes"]] == [f[len("a picture of"):].strip() for f in full]  # ... cut
    objects = [f[len("the sign on the"):].strip() for f in reference(tiny_blip, images, "the sign on the")]
    assert [s["objects"] for s in it.row["scenes"]] == objects


def test_resolve_local_folder_and_unavailable_hub(tiny_blip, monkeypatch):
    w = TransformersCaptioner.resolve({"model": str(tiny_blip)})
    assert w.weights == file_sha256(tiny_blip / "model.safetensors") and w.name == "transformers:tiny-blip"
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsUnavailable, match="no captioner loaded"):
        TransformersCaptioner.resolve({"model": "ava-tests/not-a-cached-model"})


def test_one_bad_item_fails_alone(tiny_blip):
    cap = TransformersCaptioner(str(tiny_blip), max_new_tokens=4)
    good, bad = item(frames()[:1]), item(frames()[:1])
    bad.decoded.scenes[0].frame = "not an image"
    failed = run_encoder(cap, [good, bad])
    assert [it for it, _ in failed] == [bad] and isinstance(good.row["scenes"][0]["caption"], str)
