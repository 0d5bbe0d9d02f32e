"""The `llada-tui` command: record / info / export end to end on the tiny checkpoint, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llada_tui.cli.main import main
from llada_tui.core.trace_reader import load_trace

PROMPT = "the cat sat on the mat"
SETTINGS = ["--steps", "8", "--gen-length", "16", "--block-length", "8", "--topk", "3"]


def record(checkpoint: Path, output: Path, *extra: str) -> int:
    return main(["record", PROMPT, "--model", str(checkpoint), "-o", str(output), *SETTINGS, *extra])


def reference_run(model, tokenizer, temperature: float = 0.0, seed: int = 0):  # noqa: ANN001, ANN201
    """The same run through the Python API, recording every step in memory."""
    import torch

    from llada_tui.core.sampler import generate

    steps = []
    prompt = torch.tensor([tokenizer.apply_chat_template(PROMPT)])
    torch.manual_seed(seed)
    output = generate(
        model,
        prompt,
        steps=8,
        gen_length=16,
        block_length=8,
        temperature=temperature,
        mask_id=tokenizer.mask_id,
        eos_id=tokenizer.eos_id,
        eot_id=tokenizer.eot_id,
        recorder=steps.append,
        topk=3,
    )
    return output[0, prompt.shape[1] :].tolist(), steps


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_record_matches_the_python_api_step_for_step(
    tmp_path: Path, tiny_checkpoint: Path, tiny_model, tiny_tokenizer, temperature: float
) -> None:
    output = tmp_path / "run.trace"
    assert record(tiny_checkpoint, output, "--temperature", str(temperature), "--seed", "3") == 0
    trace = load_trace(output)
    final, steps = reference_run(tiny_model, tiny_tokenizer, temperature, seed=3)
    assert trace.complete
    assert trace.end.final_ids == final
    assert len(trace.steps) == len(steps) == 8
    for recorded, expected in zip(trace.steps, steps):
        assert list(recorded.positions) == list(expected.positions)
        assert list(recorded.ids) == list(expected.ids)
        assert list(recorded.candidates.ids) == list(expected.candidates.ids)
    assert trace.header.params["temperature"] == temperature and trace.header.params["seed"] == 3
    assert list(trace.header.prompt_ids) == tiny_tokenizer.apply_chat_template(PROMPT)
    assert trace.header.params["mask_id"] == tiny_tokenizer.mask_id
    assert trace.end.final_text == tiny_tokenizer.decode(final, skip_special_tokens=True)


def test_export_json_shape(tmp_path: Path, tiny_checkpoint: Path, tiny_tokenizer, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "run.trace"
    assert record(tiny_checkpoint, output) == 0
    capsys.readouterr()
    assert main(["export", str(output), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format"] == "llada-trace" and document["version"] == 1
    assert document["prompt"]["text"] == PROMPT
    assert document["prompt"]["ids"] == tiny_tokenizer.apply_chat_template(PROMPT)
    assert document["params"]["steps"] == 8
    positions = [u["pos"] for step in document["steps"] for u in step["unmasked"]]
    assert sorted(positions) == list(range(16))  # every generated position committed exactly once
    first = document["steps"][0]["unmasked"][0]
    assert set(first) == {"pos", "id", "text", "confidence"} and 0 < first["confidence"] <= 1
    assert first["text"] == tiny_tokenizer.token_text(first["id"])
    final_ids = document["final"]["ids"]
    assert document["final"]["text"] == tiny_tokenizer.decode(final_ids, skip_special_tokens=True)


def test_info_summarises(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "run.trace"
    assert record(tiny_checkpoint, output) == 0
    capsys.readouterr()
    assert main(["info", str(output)]) == 0
    text = capsys.readouterr().out
    assert f"prompt:   {PROMPT}" in text
    assert "steps:    8 of 8" in text and "status:   complete" in text


def test_info_on_a_cut_short_trace(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "run.trace"
    assert record(tiny_checkpoint, output) == 0
    data = output.read_bytes()
    output.write_bytes(data[: len(data) * 2 // 3])
    capsys.readouterr()
    assert main(["info", str(output)]) == 0
    text = capsys.readouterr().out
    assert "(incomplete)" in text and "cut short after step" in text


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gen-length", "20", "--block-length", "8"], "must be a multiple of block_length"),
        (["--steps", "3", "--gen-length", "16", "--block-length", "8"], "multiple of the number of blocks"),
        (["--steps", "32", "--gen-length", "16", "--block-length", "16"], "must not exceed gen_length"),
        (["--topk", "-1"], "topk must be between 0 and 64"),
    ],
)
def test_bad_sampling_arguments_exit_2_with_one_line(
    tmp_path: Path, tiny_checkpoint: Path, capsys, flags: list[str], message: str
) -> None:  # noqa: ANN001
    output = tmp_path / "run.trace"
    code = main(["record", PROMPT, "--model", str(tiny_checkpoint), "-o", str(output), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not output.exists()  # nothing half-made left behind


def test_empty_prompt_is_refused(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    code = main(["record", "  ", "--model", str(tiny_checkpoint), "-o", str(tmp_path / "x.trace"), *SETTINGS])
    assert code == 2 and "prompt is empty" in capsys.readouterr().err


def test_existing_output_is_not_overwritten(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "precious.trace"
    output.write_text("my work")
    assert record(tiny_checkpoint, output) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert output.read_text() == "my work"
    assert record(tiny_checkpoint, output, "--force") == 0


def test_missing_model_is_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main(["record", PROMPT, "--model", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.trace")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("llada-tui: error:") and err.count("\n") == 1


def test_cuda_without_gpu_is_one_line(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["record", PROMPT, "--model", str(tiny_checkpoint), "--device", "cuda", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and "CUDA is not available" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["info", "export"])
def test_bad_trace_files(tmp_path: Path, capsys, command: str) -> None:  # noqa: ANN001
    missing = tmp_path / "missing.trace"
    assert main([command, str(missing)]) == 1
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.trace"
    junk.write_bytes(b"\x1b]0;pwned\x07 not a trace")
    assert main([command, str(junk)]) == 1
    err = capsys.readouterr().err
    assert "not a llada-tui trace" in err and "\x1b" not in err


def test_engine_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torch" else real_find_spec(name))
    assert main(["record", PROMPT, "-o", "x.trace"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'llada-tui[engine]'" in err and err.count("\n") == 1


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llada_tui.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "record" in result.stdout and "play" in result.stdout


def test_a_tokenizer_without_chat_template(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tiny_checkpoint import write_tiny_checkpoint

    checkpoint = write_tiny_checkpoint(tmp_path / "base-model")
    config_file = checkpoint / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    del config["chat_template"]
    config_file.write_text(json.dumps(config))
    (checkpoint / "chat_template.jinja").unlink(missing_ok=True)
    output = tmp_path / "run.trace"
    assert record(checkpoint, output) == 2
    err = capsys.readouterr().err
    assert "no chat template; use --no-chat-template" in err and err.count("\n") == 1
    assert not output.exists()
    assert record(checkpoint, output, "--no-chat-template") == 0
    assert load_trace(output).header.params["chat_template"] is False


def test_unwritable_output_is_one_line(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert record(tiny_checkpoint, blocker / "run.trace") == 2  # refused before loading the model
    err = capsys.readouterr().err
    assert err.startswith("llada-tui: error:") and "is not a folder" in err and err.count("\n") == 1
    trace = tmp_path / "run.trace"
    assert record(tiny_checkpoint, trace) == 0
    capsys.readouterr()
    assert main(["export", str(trace), "-o", str(blocker / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llada-tui: error:") and err.count("\n") == 1


def test_record_answers_on_stdout_and_reports_on_stderr(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # noqa: ANN001
    output = tmp_path / "run.trace"
    assert record(tiny_checkpoint, output, "--threads", "1") == 0
    captured = capsys.readouterr()
    assert captured.out == load_trace(output).end.final_text + "\n"  # the answer alone, unwrapped
    assert "8 steps in" in captured.err and "1 CPU thread;" in captured.err and str(output) in captured.err


def test_info_on_a_partial_trace_says_so(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from synthetic_traces import write_trace

    trace = write_trace(tmp_path / "cut.trace", ending="none", stop_after=3)
    assert main(["info", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "answer:" not in out  # nothing is passed off as the answer
    partial = next(line for line in out.splitlines() if line.startswith("partial:"))
    assert "·" in partial and "after step 3" in out


def test_play_missing_file_is_the_same_error_as_info(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    missing = str(tmp_path / "missing.trace")
    assert main(["play", missing]) == 1
    play_err = capsys.readouterr().err
    assert main(["info", missing]) == 1
    assert play_err == capsys.readouterr().err
    assert play_err.startswith("llada-tui: error: no such file")


def test_unknown_option_gets_the_commands_usage(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(["play", "x.trace", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: llada-tui play") and "unrecognized arguments: --bogus" in err


def test_version(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("llada-tui 0.")


def test_export_never_overwrites_silently(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from synthetic_traces import write_trace

    trace = write_trace(tmp_path / "run.trace")
    mine = tmp_path / "mine.json"
    mine.write_text("my work")
    assert main(["export", str(trace), "-o", str(mine)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and mine.read_text() == "my work"
    assert main(["export", str(trace), "-o", str(mine), "--force"]) == 0
    assert json.loads(mine.read_text())["format"] == "llada-trace"
    assert main(["export", str(trace), "-o", str(tmp_path / "no" / "such" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and err.count("\n") == 1


def test_a_second_writer_to_the_same_file_is_refused(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    """Two runs to one -o: the one that finds the file made after its early check must not touch it."""
    from llada_tui.core import recording

    output = tmp_path / "run.trace"
    load_engine = recording.load_engine

    def other_run_creates_the_file(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        output.write_bytes(b"the other run's trace")
        return load_engine(*args, **kwargs)

    monkeypatch.setattr(recording, "load_engine", other_run_creates_the_file)
    assert record(tiny_checkpoint, output) == 2
    err = capsys.readouterr().err
    assert "exists (another run may be writing it)" in err and err.count("\n") == 1
    assert output.read_bytes() == b"the other run's trace"


def test_the_engine_needs_no_transformers(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """Recording works with transformers made unimportable: nothing imports it, and it is not a dependency."""
    script = (
        "import sys; sys.modules['transformers'] = None\n"
        "from llada_tui.cli.main import main\n"
        f"sys.exit(main(['record', 'hi', '--model', {str(tiny_checkpoint)!r}, '-o', {str(tmp_path / 'x.trace')!r},"
        " '--steps', '4', '--gen-length', '8', '--block-length', '8']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert "transformers" not in pyproject


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has what it wants: every write now fails
    trace = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
    command = [sys.executable, "-m", "llada_tui.cli", "info", str(trace)]
    try:
        done = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr == b""
    assert done.returncode == 141


def test_a_closed_or_full_standard_output_is_one_line() -> None:
    trace = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
    cli = [sys.executable, "-m", "llada_tui.cli"]
    closed = subprocess.run(
        [*cli, "info", str(trace)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        close_fds=True,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
        timeout=60,
    )
    assert (closed.returncode, closed.stderr) == (1, b"llada-tui: error: standard output is closed\n")
    if Path("/dev/full").exists():  # every write to it fails: a full disk
        for args in (["--help"], ["info", str(trace)]):
            with open("/dev/full", "w") as full:
                done = subprocess.run([*cli, *args], stdout=full, stderr=subprocess.PIPE, timeout=60)
            assert (done.returncode, done.stderr) == (1, b"llada-tui: error: no space left on device\n"), args
