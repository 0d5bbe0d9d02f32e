"""The CLI against hostile input: what it prints is always inert, what it is given is checked first.

Traces with escape sequences in every printed field, typed values with markup and controls,
numbers beyond any sane range, prompts that are not text: each ends in a clean line and an exit
code, before any model is loaded, and nothing on stdout or stderr can drive the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_traces import HOSTILE, records_of, write_records, write_trace

from llada_tui.cli.main import main

PROMPT = "the cat sat on the mat"
SETTINGS = ["--steps", "8", "--gen-length", "16", "--block-length", "8", "--topk", "3"]
ESCAPES = "\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned\x07\x1b[2J\x9b2J\x9d0;t\x9c\u202eevil\u200b"
# What must never reach a terminal from us: C0 controls but newline, DEL, C1 controls, bidi
# overrides and isolates, zero-width and other invisible format characters.
FORBIDDEN = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(0x7F)} | {chr(c) for c in range(0x80, 0xA0)}
FORBIDDEN |= set("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def assert_inert(text: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in FORBIDDEN})
    assert not bad, f"raw control characters reached the terminal: {bad}"


def hostile_header_trace(path: Path) -> Path:
    """A valid trace whose printed header fields (prompt, model, params, end message) are escapes."""
    write_trace(path, HOSTILE, steps=len(HOSTILE) // 2, block_length=len(HOSTILE), sure=(), ending="interrupted")
    records = records_of(path)
    header = records[0]
    header["prompt"]["text"] = "prompt" + ESCAPES
    header["model"] = {"name": "model" + ESCAPES, "dtype": "dtype" + ESCAPES, "device": "device" + ESCAPES}
    header["params"]["remasking"] = "low_confidence" + ESCAPES
    header["params"]["seed"] = 7
    records[-1]["message"] = "message" + ESCAPES
    records[-1]["status"] = "interrupted"
    path.unlink()
    return write_records(path, records)


def test_info_prints_every_field_inert(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    trace = hostile_header_trace(tmp_path / "hostile.trace")
    assert main(["info", str(trace)]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "prompt" in out and "model" in out and "message" in out  # shown, as visible marks


def test_export_json_is_ascii_and_says_the_same(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    trace = hostile_header_trace(tmp_path / "hostile.trace")
    assert main(["export", str(trace)]) == 0
    captured = capsys.readouterr()
    assert captured.out.isascii()
    assert_inert(captured.err)
    document = json.loads(captured.out)
    assert document["prompt"]["text"] == "prompt" + ESCAPES  # escaped, not lost
    texts = [u["text"] for step in document["steps"] for u in step["unmasked"]]
    assert "\x1b[31m" in texts and " \x9b2J" in texts


def test_error_lines_are_inert(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    evil = tmp_path / ("no" + "\x1b]0;pwned\x07" + "\u202ehere")
    assert main(["info", str(evil)]) == 1
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.startswith("llada-tui: error:") and err.count("\n") == 1
    code = main(["record", PROMPT, "--model", str(evil), "-o", str(tmp_path / "x.trace")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert_inert(err)


def test_argparse_echoes_inert(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(["record", PROMPT, "-o", "x.trace", "--remasking", "\x1b]0;pwned\x07"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err
    assert_inert(err)


def test_a_hostile_answer_reaches_stdout_inert(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    from llada_tui.core.tokenizer import LLaDATokenizer

    monkeypatch.setattr(LLaDATokenizer, "decode", lambda self, ids, skip_special_tokens=True: "two\n" + ESCAPES)
    code = main(["record", PROMPT, "--model", str(tiny_checkpoint), "-o", str(tmp_path / "x.trace"), *SETTINGS])
    captured = capsys.readouterr()
    assert code == 0
    assert_inert(captured.out + captured.err)
    assert captured.out.startswith("two\n")  # lines of the answer stay lines


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seed", str(2**64)], "seed must be between 0 and"),
        (["--seed", "-1"], "seed must be between 0 and"),
        (["--topk", str(2**64)], "topk must be between 0 and"),
        (["--gen-length", str(10**7)], "gen_length must be between 1 and 32768"),
        (["--steps", "0"], "steps must be between 1 and"),
        (["--temperature", "nan"], "temperature must be a finite number"),
        (["--temperature", "inf"], "temperature must be a finite number"),
        (["--cfg-scale=-inf"], "cfg_scale must be a finite number"),
        (["--threads", "0"], "threads must be between 1 and"),
        (["--gen-length", "20"], "must be a multiple of block_length (32)"),  # the checkpoint's default block
    ],
)
@pytest.mark.parametrize("command", ["record", "live"])
def test_bad_numbers_are_refused_before_loading(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str, flags, message
) -> None:  # noqa: ANN001
    from llada_tui.core import recording

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    output = tmp_path / "x.trace"
    argv = [command, PROMPT, "--model", str(tiny_checkpoint), "-o", str(output), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not output.exists()  # nothing left behind to block the next run


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("   ", "the prompt is empty"),
        ("caf\udce9", "not valid UTF-8"),
        ("ab " * 40000, "tokens, more than 32768"),  # found by the tokenizer, still before the weights
    ],
)
@pytest.mark.parametrize("command", ["record", "live"])
def test_bad_prompts_are_refused_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str, prompt: str, message: str
) -> None:  # noqa: ANN001
    from llada_tui.core import recording

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    output = tmp_path / "x.trace"
    assert main([command, prompt, "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not output.exists()


def test_invalid_utf8_on_the_real_command_line(tmp_path: Path) -> None:
    output = tmp_path / "x.trace"
    result = subprocess.run(
        [sys.executable, "-m", "llada_tui.cli", "record", b"caf\xe9", "-o", str(output)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 2 and "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_markup_in_a_prompt_is_text(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "[a=b=c].trace"
    code = main(["record", "what is [/] 2+2 [bold]", "--model", str(tiny_checkpoint), "-o", str(output), *SETTINGS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[a=b=c].trace" in captured.err
    assert main(["info", str(output)]) == 0
    assert "what is [/] 2+2 [bold]" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["info", "export"])
def test_non_ascii_traces_under_an_ascii_terminal(tmp_path: Path, command: str) -> None:
    trace = write_trace(tmp_path / "wide.trace", [" 中文", " ｶﾀ", " é", "<eos>"], steps=2, block_length=4, sure=())
    result = subprocess.run(
        [sys.executable, "-m", "llada_tui.cli", command, str(trace)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_checks_against_the_checkpoint_need_no_torch(tmp_path: Path) -> None:
    """Lengths, the prompt and the model folder are checked before the engine (torch) is imported."""
    script = (
        "import sys\n"
        "from llada_tui.cli.main import main\n"
        f"code = main(['live', 'x', '--gen-length', '20', '-o', {str(tmp_path / 'x.trace')!r}])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", "False"]
    assert "must be a multiple of block_length (16)" in result.stderr  # the demo model's own block length
