"""Hostile chat templates and prompts: refused with one line within the render budget, never a hang.

A chat template is code from the checkpoint. Each case below once raised a traceback, hung, or
aborted the process; now each ends in a ModelLoadError (the template) or a ValueError (the
prompt) within a few seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tiny_checkpoint import write_tiny_checkpoint

from llada_tui.core.checkpoint import ModelLoadError
from llada_tui.core.tokenizer import MAX_PROMPT_TOKENS, load_tokenizer

OVER_BUDGET = "more than 512 MiB of memory|more than 1 s of CPU time"
QUICK_S = 8.0  # the render budget is 1 s of CPU; a loaded CI machine may stretch the wall clock


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("hostile-template"))


def with_template(path: Path, template) -> None:
    config = json.loads((path / "tokenizer_config.json").read_text())
    config["chat_template"] = template
    (path / "tokenizer_config.json").write_text(json.dumps(config))


def refused(call, error_type: type[Exception], match: str) -> str:
    started = time.monotonic()
    with pytest.raises(error_type, match=match) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message and len(message) < 600
    assert time.monotonic() - started < QUICK_S
    return message


@pytest.mark.parametrize(
    "template, message",
    [
        ("{% include 'other.jinja' %}", "include, extends and import are not allowed"),
        ("{% extends 'base.jinja' %}", "include, extends and import are not allowed"),
        ("{% import 'macros.jinja' as m %}{{ m.x() }}", "include, extends and import are not allowed"),
        ("{% from 'macros.jinja' import x %}{{ x() }}", "include, extends and import are not allowed"),
        ("{% include 'x' ignore missing %}", "include, extends and import are not allowed"),
        ("{% for i in range(10**9) %}{% endfor %}", "Range too big"),
        # Which budget runs out first depends on the machine: building a huge string takes CPU time too.
        ("{{ 'a' * 10**10 }}", OVER_BUDGET),
        ("{{ 'a' * 2**30 }}", OVER_BUDGET),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
            "{{ ns.s }}",
            OVER_BUDGET,
        ),
        # twice the cap: small enough to build that no other budget runs out first (2**25 sometimes hit the CPU one)
        ("{{ 'a' * 2**21 }}", "renders more than 1048576 characters"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "more than 1 s of CPU time",
        ),
        ("{{ 10 ** (10**10) }}", OVER_BUDGET),
        ("{{ lipsum(n=10**7) }}", OVER_BUDGET),
        ("{{ raise_exception('no system role\n\x1b]52;c;aGk=\x07 here') }}", "^chat template: no system role"),
        ("{% for %}", "^chat template: "),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "^chat template: "),
        ("{{ cycler.__init__.__globals__ }}", "^chat template: "),
    ],
    ids=[
        "include",
        "extends",
        "import",
        "from-import",
        "include-ignore-missing",
        "range-1e9",
        "a-times-1e10",
        "a-times-2-30",
        "doubling",
        "huge-text",
        "recursive-macro",
        "nested-loops",
        "bignum",
        "lipsum",
        "raise-exception",
        "syntax-error",
        "attribute-escape",
        "globals-escape",
    ],
)
def test_hostile_chat_templates(checkpoint, template, message):
    with_template(checkpoint, template)
    tokenizer = load_tokenizer(checkpoint)
    refused(lambda: tokenizer.apply_chat_template("hi"), ModelLoadError, message)


@pytest.mark.parametrize(
    "template, message",
    [
        (["not", "named"], "chat_template is a list without a 'default' template"),
        (5, "chat_template is not a string"),
        ("{{ messages }}" + " " * (2 << 20), r"chat_template is longer than 1048576 characters"),
    ],
    ids=["list", "number", "huge-source"],
)
def test_hostile_chat_template_sources(checkpoint, template, message):
    with_template(checkpoint, template)
    refused(lambda: load_tokenizer(checkpoint).apply_chat_template("hi"), ModelLoadError, message)


def test_a_template_that_emits_100k_tokens_is_refused(checkpoint):
    with_template(checkpoint, "{% for i in range(100000) %}the {% endfor %}{{ messages[0]['content'] }}")
    tokenizer = load_tokenizer(checkpoint)
    refused(
        lambda: tokenizer.apply_chat_template("hi"),
        ValueError,
        rf"^the prompt has \d+ tokens, more than {MAX_PROMPT_TOKENS}$",
    )


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "plain"])
def test_prompts_are_capped(tiny_tokenizer, chat):
    encode = tiny_tokenizer.apply_chat_template if chat else tiny_tokenizer.encode
    refused(lambda: encode("the " * 40_000), ValueError, rf"^the prompt has \d+ tokens, more than {MAX_PROMPT_TOKENS}")
    refused(lambda: encode("a" * (2**20 + 1)), ValueError, r"^the prompt has 1048577 characters, more than 1048576")


def test_a_prompt_that_is_not_unicode_is_refused(tiny_tokenizer):
    """Undecodable bytes of a command line arrive as lone surrogates; tokenizers would raise."""
    refused(lambda: tiny_tokenizer.apply_chat_template("caf\udce9"), ValueError, "^the prompt is not valid UTF-8 text$")
    refused(lambda: tiny_tokenizer.encode("caf\udce9"), ValueError, "^the prompt is not valid UTF-8 text$")


def test_the_renderer_ignores_modules_in_the_working_folder(checkpoint, monkeypatch):
    """Run from inside a hostile model folder, the child must not import its jinja2.py or json.py."""
    folder = checkpoint.parent / "cwd"
    folder.mkdir()
    for module in ("jinja2", "json", "resource"):
        (folder / f"{module}.py").write_text(f"open({str(folder / 'IMPORTED')!r}, 'w').write({module!r})\n")
    monkeypatch.chdir(folder)
    with_template(checkpoint, "{{ messages[0]['content'] }}!")
    assert load_tokenizer(checkpoint).render_chat("from the working folder") == "from the working folder!"
    assert not (folder / "IMPORTED").exists()


def test_an_ordinary_template_renders_within_the_budget(tiny_tokenizer):
    """The sandbox costs one short-lived process per render: far below the budget."""
    started = time.monotonic()
    tiny_tokenizer.render_chat("a fresh message, not cached")
    assert time.monotonic() - started < QUICK_S / 2
