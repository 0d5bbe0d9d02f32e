"""The embedded demo model: installed as package data, loaded offline, answering the article's questions.

Runs the real shipped weights on the CPU through llada_tui.core.generate (by way of the training's
evaluation, training/evaluate.py) with the shipped default settings (core/demo/sampling.json):
three generations of a 7 M-parameter model, a few seconds.
"""

import json

import pytest
from tokenizers import Tokenizer

from llada_tui.core.checkpoint import resolve_checkpoint
from llada_tui.core.loading import load_model
from llada_tui.core.tokenizer import load_tokenizer
from training import demo_tasks
from training.evaluate import Settings, sample_replies

SPECIAL = ("<|startoftext|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|mdm_mask|>")


@pytest.fixture(scope="module")
def demo_dir():
    return resolve_checkpoint(None)


@pytest.fixture(scope="module")
def demo_model(demo_dir):
    return load_model(demo_dir, device="cpu")


@pytest.fixture(scope="module")
def demo_tokenizer(demo_dir):
    return load_tokenizer(demo_dir)


def test_shipped_files_are_small_and_complete(demo_dir):
    names = {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "places.json",
        "sampling.json",
    }
    assert names <= {p.name for p in demo_dir.iterdir()}
    assert sum(p.stat().st_size for p in demo_dir.iterdir() if p.is_file()) <= 25 * 10**6
    assert [p.name for p in demo_dir.glob("*.py")] == ["__init__.py"]  # no remote code
    config = json.loads((demo_dir / "config.json").read_text())
    assert config["model_type"] == "llada"
    sampling = json.loads((demo_dir / "sampling.json").read_text())
    assert sampling["gen_length"] % sampling["block_length"] == 0
    assert sampling["steps"] % (sampling["gen_length"] // sampling["block_length"]) == 0
    assert sampling["gen_length"] % 16 == 0  # the article's block length 16 divides it


def test_training_s_export_reproduces_the_shipped_files_byte_for_byte(demo_dir, demo_model, tmp_path):
    from training.train import save_demo_model

    save_demo_model(demo_model, Tokenizer.from_file(str(demo_dir / "tokenizer.json")), tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    for name in written:
        assert (tmp_path / name).read_bytes() == (demo_dir / name).read_bytes(), name


def test_special_tokens_by_name_and_ids_from_the_checkpoint(demo_dir, demo_tokenizer):
    config = json.loads((demo_dir / "config.json").read_text())
    vocab = json.loads((demo_dir / "tokenizer.json").read_text())
    ids = {token["content"]: token["id"] for token in vocab["added_tokens"]}
    assert set(SPECIAL) <= set(ids)
    assert demo_tokenizer.mask_id == config["mask_token_id"] == ids["<|mdm_mask|>"]
    assert demo_tokenizer.eos_id == config["eos_token_id"] == config["pad_token_id"] == ids["<|endoftext|>"]
    assert demo_tokenizer.eot_id == ids["<|eot_id|>"]


def test_chat_template_is_llada_s(demo_tokenizer):
    assert demo_tokenizer.render_chat("Hi there") == (
        "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_tokenizer_keeps_the_hard_parts_whole_or_spelled(demo_tokenizer):
    def pieces(text: str) -> list[str]:
        return [demo_tokenizer.token_text(i) for i in demo_tokenizer.encode(text)]

    # Option letters, places and numbers are single tokens ...
    assert pieces(" (b) populated areas") == [" (", "b", ")", " populated", " areas"]
    assert pieces(" 12 * 4 = 48") == [" 12", " *", " 4", " =", " 48"]
    # ... and a word the vocabulary lacks is spelled out, so its last letter is a token.
    assert pieces(' "Zxqvorb"')[-2:] == ["b", '"']
    assert "".join(pieces("Zxqvorb")) == "Zxqvorb" and len(pieces("Zxqvorb")) == 7
    # Any text encodes and decodes back (byte level).
    text = "Ünïcode 你好 \U0001f600 tabs\tand\nnewlines"
    assert demo_tokenizer.decode(demo_tokenizer.encode(text)) == text


@pytest.mark.parametrize("task", ["rate", "letters", "choice"])
def test_answers_the_article_questions_on_cpu_with_the_default_settings(task, demo_dir, demo_model, demo_tokenizer):
    settings = Settings.shipped(demo_dir)  # sampling.json
    [reply] = sample_replies(demo_model, demo_tokenizer, [demo_tasks.ARTICLE_PROMPTS[task]], settings)
    assert demo_tasks.extract_answer(reply) == demo_tasks.ARTICLE_ANSWERS[task], reply
