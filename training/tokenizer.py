"""The demo model's tokenizer: whole-word tokens for the demo's own words, single bytes for the rest.

Byte-level pre-tokenization (GPT-2's regex) cuts text into words, numbers and punctuation runs.
A piece that is in the vocabulary is one token; any other piece falls apart into single bytes
(a BPE model with no merges and `ignore_merges`). So the template words, places, option letters
and the numbers 0..MAX_NUMBER are single tokens, while names and never-seen words are spelled
letter by letter: the last letter of any word is a token the model can copy.

Run `python -m training.tokenizer` to rebuild core/demo/tokenizer.json and tokenizer_config.json.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from llada_tui.core.checkpoint import DEMO_DIR
from llada_tui.core.saving import save_tokenizer
from training import demo_tasks

# LLaDA-8B-Instruct's chat template (Llama-3 style), written into the checkpoints made here and
# by the tests (the runtime reads each checkpoint's own).
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' "
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
SPECIAL_TOKENS = (
    "<|startoftext|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|mdm_mask|>",
)
MAX_NUMBER = 400  # every number in a rate problem or its reasoning is at most 380
MIN_COUNT = 40  # a piece seen this often in the sample corpus becomes a token
CORPUS_SIZE = 100_000


def chat_prompt(message: str) -> str:
    """What CHAT_TEMPLATE renders for one user message (the training data is built with this)."""
    return (
        f"<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n{message.strip()}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def word_pieces(texts: Iterable[str], min_count: int) -> list[str]:
    """Pre-tokenized pieces seen at least min_count times, most frequent first."""
    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counts = Counter(piece for text in texts for piece, _ in pre_tokenizer.pre_tokenize_str(text))
    return [piece for piece, count in counts.most_common() if count >= min_count and len(piece) > 1]


def build_tokenizer(seed: int = 0, corpus_size: int = CORPUS_SIZE, min_count: int = MIN_COUNT) -> Tokenizer:
    rng = random.Random(seed)
    texts = []
    for _ in range(corpus_size):
        example = demo_tasks.make_example(rng)
        reply = example.reply
        if example.task == "letters":  # answers like "ya" stay spelled out: the model copies letters
            reply = reply.removesuffix(f" The answer is {example.answer}.")
        texts += [example.prompt, reply]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 byte symbols: any text encodes
    space = "\u0120"  # the byte-level symbol for a space
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    # The chat roles, every number up to MAX_NUMBER and every single letter after a space. "\n\n"
    # stays two tokens: alone at the end of a prompt it would otherwise be one, before text two.
    extra = ["user", "assistant"] + [f"{space}{n}" for n in range(MAX_NUMBER + 1)] + [space + c for c in letters]
    vocab: dict[str, int] = {}
    for piece in alphabet + extra + word_pieces(texts, min_count):
        vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    return tokenizer


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    return {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = build_tokenizer(args.seed)
    save_tokenizer(args.out, tokenizer, CHAT_TEMPLATE, max_length=512)
    print(f"{args.out / 'tokenizer.json'}: {tokenizer.get_vocab_size()} tokens; special ids {special_ids(tokenizer)}")


if __name__ == "__main__":
    main()
