"""python -m ava.train model=tiny / python -m ava.evaluate model=tiny: a small random Llama built locally.

``build_tiny`` trains a byte-level BPE tokenizer on a built-in English sample (no hub, no download), wraps
it as a ``PreTrainedTokenizerFast`` with Llama-3 special tokens and a Llama-3-style chat template (assistant
turns inside ``{% generation %}`` markers, so ``return_assistant_tokens_mask`` works), builds a randomly
initialised ``LlamaForCausalLM`` and saves both with ``save_pretrained``. The folder is a cache keyed by the
arguments: the same arguments give the same folder, built once (atomically, so parallel callers are safe).
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path

from ava.models.cache import cache_root, save_atomically

BOS, EOS, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
START_HEADER, END_HEADER = "<|start_header_id|>", "<|end_header_id|>"
PAD = "<|finetune_right_pad_id|>"
SPECIAL_TOKENS = [BOS, EOS, START_HEADER, END_HEADER, EOT, PAD]

# Llama-3 layout; the assistant reply and its <|eot_id|> are the generation (loss-bearing) part.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] | trim }}{{ '<|eot_id|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

_SAMPLE = """\
The advertisement shows a family at breakfast. Most of the people who saw it were women aged 25 to 34
living in California, Texas and New York. Which group of people is most likely to engage with this ad?
Answer with the letter of the best option. Options: A. Men 18-24 B. Women 25-34 C. Men 65+ D. Women 45-54
Survey question: How much do you agree that the government should do more to help people? Answer: A
People in different regions hold different opinions about health, money, work, family and the news.
The campaign ran for 12 days and reached between 10000 and 50000 people; the spend was 100 to 499 dollars.
The image contains the text "Vote on Tuesday" over a photo of a city street at night.
The video opens with a woman speaking to the camera about her small business and her customers.
Question: What share of the audience was aged 55-64? Answer: 0.25. Question: Which region? Answer: Ohio.
"""
# Option letters and digits with and without a leading space, so " A" and "A" become single tokens.
_LETTERS = " ".join(string.ascii_uppercase + string.digits)
_CORPUS_REPEATS = 50  # enough occurrences that every " X" pair wins a merge at vocab_size >= 384


def _corpus() -> list[str]:
    lines = [line for line in _SAMPLE.splitlines() if line]
    letters = [_LETTERS, _LETTERS.replace(" ", ""), _LETTERS.lower()]
    return (lines + letters) * _CORPUS_REPEATS


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOT, pad_token=PAD, unk_token=None,
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    for text in [*string.ascii_uppercase, *(" " + c for c in string.ascii_uppercase)]:
        ids = fast(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"tiny tokenizer splits {text!r} into {ids}; raise vocab_size ({vocab_size})")
    return fast


def build_tiny(
    out_dir: Path | None = None,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 1024,
) -> Path:
    """Build (once) and return a folder that ``AutoModelForCausalLM/AutoTokenizer.from_pretrained`` load.

    ``out_dir`` defaults to ``$AVA_CACHE/models/tiny-<hash of the arguments>`` (``~/.cache/ava`` when unset).
    """
    args = dict(seed=seed, vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                num_heads=num_heads, num_kv_heads=num_kv_heads, intermediate_size=intermediate_size,
                max_position_embeddings=max_position_embeddings, version=1)
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
    out = Path(out_dir) if out_dir is not None else cache_root() / f"tiny-{key}"
    marker = out / "ava_tiny.json"
    if marker.exists():
        if json.loads(marker.read_text()) != args:
            raise FileExistsError(f"{out} holds a tiny model built from other arguments; use another out_dir")
        return out

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _train_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.float32)
    save_atomically(out, model, tokenizer, marker.name, args)
    return out
