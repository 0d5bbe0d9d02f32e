"""LLaDA's tokenizer: tokenizer.json through `tokenizers`, the chat template in a sandbox.

Prompts are encoded as text: special tokens a user types stay ordinary text unless asked
otherwise. Nothing here imports torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from llada_tui.core.chat_template import MAX_TEMPLATE_CHARS, RenderedChat, TemplateRenderError, render_chats
from llada_tui.core.checkpoint import (
    MAX_JSON_BYTES,
    ModelLoadError,
    checkpoint_file,
    first_line,
    read_config,
    read_json,
)
from llada_tui.core.options import check_prompt, check_prompt_text

MAX_TOKENIZER_BYTES = 64 << 20  # LLaDA-8B's tokenizer.json is a few megabytes


MAX_PROMPT_TOKENS = 1 << 15


class LLaDATokenizer:
    """LLaDA's tokenizer from tokenizer.json, with its chat template rendered in a sandbox.

    Special ids are looked up by token name (the demo model's ids differ from LLaDA-8B's).
    Where config.json names mask_token_id / eos_token_id, those win: they are what the model
    was trained with, and what the reference sampler is given.

    Prompts are encoded as text: special tokens the user writes (`<|eot_id|>`, `<|mdm_mask|>`)
    stay ordinary text, as transformers' `split_special_tokens` does; only the chat template's
    own special tokens are special. `parse_special=True` recognises them in the user's text too
    (the old behaviour). A prompt holds at most MAX_PROMPT_CHARS characters and
    MAX_PROMPT_TOKENS tokens, and never the mask token; otherwise ValueError, one line.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chat_template: str | None,
        *,
        mask_id: int,
        eos_id: int,
        eot_id: int | None,
        bos_id: int | None,
    ):
        self._tokenizer = tokenizer
        self._chat_template = chat_template
        self._encoding_lock = threading.Lock()  # encode_special_tokens is a setting of the tokenizer
        self.mask_id = mask_id
        self.eos_id = eos_id
        self.eot_id = eot_id
        self.bos_id = bos_id
        added = tokenizer.get_added_tokens_decoder()
        self._special_added = {i: token.content for i, token in added.items() if token.special}

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> list[int]:
        """Ids of all special tokens (skipped when decoding an answer)."""
        return sorted(set(self._special_added) | {self.mask_id, self.eos_id})

    def encode(self, text: str, parse_special: bool = False) -> list[int]:
        """Prompt ids of text, none added; special tokens written in it are text unless parse_special."""
        check_prompt_text(text)
        return self._checked_prompt(self._encode(text, parse_special).ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_text(self, token_id: int) -> str:
        """Display text of one token alone, e.g. ' the' or '\\n'; '' for ids outside the vocabulary."""
        if self._tokenizer.id_to_token(token_id) is None:
            return ""
        return self._tokenizer.decode([token_id], skip_special_tokens=False)

    def render_chat(self, message: str) -> str:
        """The prompt text for one user message, as LLaDA's chat examples build it."""
        check_prompt_text(message)
        [chat] = self._render((message,))
        return chat.text

    def apply_chat_template(self, message: str, parse_special: bool = False) -> list[int]:
        """Prompt ids for one user message in LLaDA's chat format, ready for generation.

        The template's special tokens (BOS, headers, EOT) are special; those written in the
        message are text unless parse_special. Token boundaries are those of the whole chat
        string: the text between the template's special tokens is encoded in one piece.
        """
        [ids] = self.apply_chat_template_batch([message], parse_special)
        return ids

    def apply_chat_template_batch(self, messages: list[str], parse_special: bool = False) -> list[list[int]]:
        """apply_chat_template for many messages, rendered by one sandboxed process (one start-up)."""
        for message in messages:
            check_prompt_text(message)
        chats = self._render(tuple(messages))
        if parse_special:
            return [self._checked_prompt(self._encode(chat.text, True).ids) for chat in chats]
        return [self._checked_prompt(self._encode_chat(chat, message)) for chat, message in zip(chats, messages)]

    def _encode(self, text: str, parse_special: bool):
        with self._encoding_lock:
            self._tokenizer.encode_special_tokens = not parse_special
            try:
                return self._tokenizer.encode(text, add_special_tokens=False)
            finally:
                self._tokenizer.encode_special_tokens = False

    def _encode_chat(self, chat: RenderedChat, message: str) -> list[int]:
        """The chat's ids with special tokens recognised only outside the message's spans."""
        whole = self._encode(chat.text, True)
        spans = chat.message_spans
        if spans is None:
            if any(name in message for name in self._special_added.values()):
                raise ModelLoadError(
                    "chat template: it cannot tell the message from the template's own text, so special tokens "
                    "typed in the message cannot be kept as text; remove them or use --no-chat-template"
                )
            return whole.ids
        ids: list[int] = []
        position = 0  # text before this point is encoded
        for token_id, (start, end) in zip(whole.ids, whole.offsets):
            if token_id in self._special_added and not any(start < b and a < end for a, b in spans):
                ids += self._encode(chat.text[position:start], False).ids
                ids.append(token_id)
                position = end
        return ids + self._encode(chat.text[position:], False).ids

    def _checked_prompt(self, ids: list[int]) -> list[int]:
        if len(ids) > MAX_PROMPT_TOKENS:
            raise ValueError(f"the prompt has {len(ids)} tokens, more than {MAX_PROMPT_TOKENS}")
        if self.mask_id in ids:
            name = self._token_name(self.mask_id)
            raise ValueError(
                f"the prompt contains the mask token {name} (id {self.mask_id}); only the answer's positions "
                "are masked: remove it, or leave special tokens as text"
            )
        return ids

    def _render(self, messages: tuple[str, ...]) -> tuple[RenderedChat, ...]:
        if self._chat_template is None:
            raise ModelLoadError("this tokenizer has no chat template; use --no-chat-template")
        try:
            return render_chats(
                self._chat_template, messages, self._token_name(self.bos_id), self._token_name(self.eos_id)
            )
        except TemplateRenderError as error:
            raise ModelLoadError(f"chat template: {error}") from None

    def _token_name(self, token_id: int | None) -> str:
        if token_id is None:
            return ""
        return self._tokenizer.id_to_token(token_id) or ""


def _token_content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(path: Path, tokenizer_config: dict[str, Any]) -> str | None:
    where = path / "tokenizer_config.json"
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        named = [t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"]
        if not named:
            raise ModelLoadError(f"{where}: chat_template is a list without a 'default' template")
        template = named[0]
    if template is None:
        file = checkpoint_file(path, "chat_template.jinja", 4 * MAX_TEMPLATE_CHARS)
        if file is not None:
            where = file
            try:
                template = file.read_bytes().decode("utf-8")
            except (OSError, ValueError) as error:
                raise ModelLoadError(f"{file}: cannot read it ({first_line(error)})") from None
    if template is not None and not isinstance(template, str):
        raise ModelLoadError(f"{where}: chat_template is not a string")
    if template is not None and len(template) > MAX_TEMPLATE_CHARS:
        raise ModelLoadError(f"{where}: chat_template is longer than {MAX_TEMPLATE_CHARS} characters")
    return template


def load_tokenizer(path: str | Path) -> LLaDATokenizer:
    """The tokenizer of a checkpoint folder (tokenizer.json + tokenizer_config.json)."""
    path = Path(path)
    tokenizer_file = checkpoint_file(path, "tokenizer.json", MAX_TOKENIZER_BYTES)
    if tokenizer_file is None:
        raise ModelLoadError(f"{path}: no tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as error:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"{tokenizer_file}: cannot read it ({first_line(error)})") from None
    config_file = checkpoint_file(path, "tokenizer_config.json", MAX_JSON_BYTES)
    tokenizer_config = read_json(config_file) if config_file is not None else {}
    config = read_config(path) if os.path.lexists(path / "config.json") else None

    if config is not None:
        largest = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=0)
        if largest >= config.vocab_size:
            raise ModelLoadError(
                f"{tokenizer_file}: token id {largest} is outside the model's vocabulary "
                f"(vocab_size {config.vocab_size})"
            )

    def special(name: str, config_key: str | None = None) -> int | None:
        configured = getattr(config, config_key) if config is not None and config_key else None
        return configured if configured is not None else tokenizer.token_to_id(name)

    bos_name = _token_content(tokenizer_config.get("bos_token")) or "<|startoftext|>"
    mask_id = special("<|mdm_mask|>", "mask_token_id")
    eos_id = special("<|endoftext|>", "eos_token_id")
    if mask_id is None:
        raise ModelLoadError(f"{path}: the tokenizer has no <|mdm_mask|> token and config.json no mask_token_id")
    if eos_id is None:
        raise ModelLoadError(f"{path}: the tokenizer has no <|endoftext|> token and config.json no eos_token_id")
    return LLaDATokenizer(
        tokenizer,
        _chat_template(path, tokenizer_config),
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=special("<|eot_id|>"),
        bos_id=special(bos_name),
    )


def encode_prompt(tokenizer: LLaDATokenizer, prompt: str, *, chat_template: bool, parse_special: bool) -> list[int]:
    """The prompt's ids as the model sees them; ValueError or ModelLoadError, one line, if it cannot be."""
    check_prompt(prompt)
    if chat_template:
        return tokenizer.apply_chat_template(prompt, parse_special=parse_special)
    return tokenizer.encode(prompt, parse_special=parse_special)
