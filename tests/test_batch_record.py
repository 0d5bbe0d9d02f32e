"""`llada-tui record --prompts FILE.jsonl --out-dir DIR`: batched and under torchrun, each trace
equal step for step to a single `record` of its prompt; resumable; bad lines reported and skipped.

The runs use the embedded demo model on the CPU with one thread (gen 32, 16 steps: about a
second a prompt on this project's 2-core box).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llada_tui.cli.main import main
from llada_tui.core import batch_recording
from llada_tui.core.batch_index import write_index
from llada_tui.core.options import SamplingOptions
from llada_tui.core.prompt_file import read_prompt_file
from llada_tui.core.trace_reader import load_trace

RATE = "Lily can run {} kilometers per hour for {} hours. After that, she runs {} kilometers per hour. How many kilometers can she run in {} hours?"  # noqa: E501
LETTERS = 'Take the last letters of the words in "{}" and concatenate them.'
# Four rate prompts of one token length (they can share a forward) and two of letters (another length).
PROMPTS = [
    {"id": "rate-a", "prompt": RATE.format(12, 4, 6, 8)},
    {"id": "rate-b", "prompt": RATE.format(14, 3, 5, 9), "seed": 7},
    {"id": "letters-a", "prompt": LETTERS.format("Lady Gaga")},
    {"id": "rate-c", "prompt": RATE.format(11, 2, 7, 6), "seed": 3},
    {"id": "letters-b", "prompt": LETTERS.format("Nora Kell"), "block_length": 16},
    {"id": "rate-d", "prompt": RATE.format(13, 5, 4, 7)},
]
FAST = ["--gen-length", "32", "--steps", "16", "--block-length", "8", "--threads", "1", "--device", "cpu"]


def write_prompts(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def steps_of(path: Path) -> list[tuple]:
    """What a trace's steps say, all but their wall times."""
    trace = load_trace(path)
    assert trace.complete, path
    return [
        (
            step.index,
            step.block,
            list(step.positions),
            list(step.ids),
            list(step.confidences),
            None if step.candidates is None else (list(step.candidates.ids), list(step.candidates.probs)),
        )
        for step in trace.steps
    ] + [tuple(trace.end.final_ids)]


def single_run(tmp_path: Path, line: dict, extra: list[str]) -> Path:
    out = tmp_path / "single" / f"{line['id']}.trace"
    out.parent.mkdir(parents=True, exist_ok=True)
    options = [f"--{key.replace('_', '-')}={value}" for key, value in line.items() if key not in ("id", "prompt")]
    argv = ["record", line["prompt"], "-o", str(out), *FAST, *extra]
    # A per-line override comes after the command line's, as the prompts file's do.
    assert main(argv + options) == 0
    return out


@pytest.fixture(scope="module")
def singles(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[tuple]]:
    """Every prompt recorded alone, at temperature 0 and at 0.8 (each with its seed)."""
    tmp_path = tmp_path_factory.mktemp("singles")
    runs = {}
    for temperature in ("0", "0.8"):
        for line in PROMPTS:
            path = single_run(tmp_path / temperature, line, ["--temperature", temperature])
            runs[temperature, line["id"]] = steps_of(path)
    return runs


def batch(tmp_path: Path, *extra: str, prompts: list[object] = PROMPTS) -> tuple[int, Path]:
    prompts_file = write_prompts(tmp_path / "prompts.jsonl", prompts)
    out_dir = tmp_path / "out"
    code = main(["record", "--prompts", str(prompts_file), "--out-dir", str(out_dir), *FAST, *extra])
    return code, out_dir


@pytest.mark.parametrize("temperature", ["0", "0.8"])
def test_batched_rows_equal_single_runs(
    temperature: str, singles: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = []
    real = batch_recording.sample

    def counting(*args, **kwargs):
        sizes.append(args[1].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_recording, "sample", counting)
    code, out_dir = batch(tmp_path, "--batch-size", "2", "--temperature", temperature)
    assert code == 0
    assert sizes == [2, 2]  # the rate prompts two by two; the letters prompts differ in length or options
    for line in PROMPTS:
        assert steps_of(out_dir / f"{line['id']}.trace") == singles[temperature, line["id"]], line["id"]


def test_the_index_lists_every_line(tmp_path: Path) -> None:
    prompts = [PROMPTS[0], "{not json", {"prompt": LETTERS.format("Lady Gaga")}, {"prompt": "x", "steps": "many"}]
    code, out_dir = batch(tmp_path, "--batch-size", "2", prompts=prompts)
    assert code == 0
    entries = [json.loads(line) for line in (out_dir / "index.jsonl").read_text().splitlines()]
    assert [(entry["line"], entry["status"]) for entry in entries] == [
        (1, "complete"),
        (2, "bad line"),
        (3, "complete"),
        (4, "bad line"),
    ]
    first, _, third, fourth = entries
    assert first["id"] == "rate-a" and first["trace"] == "rate-a.trace" and first["prompt"] == PROMPTS[0]["prompt"]
    assert first["final_text"] == load_trace(out_dir / "rate-a.trace").end.final_text
    assert first["steps"] == first["forwards"] == 16 and first["wall_s"] > 0
    assert third["id"] == "p3" and (out_dir / "p3.trace").exists()
    assert fourth["error"].startswith("steps must be")


def test_bad_lines_are_reported_with_their_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same_name = {"id": "letters-a", "prompt": "again"}  # the same trace name as line 2's
    prompts = ["[1, 2]", PROMPTS[2], {"prompt": "x", "sampler": "fast"}, same_name, PROMPTS[0]]
    code, out_dir = batch(tmp_path, prompts=prompts)
    err = capsys.readouterr().err
    assert code == 0
    assert "prompts.jsonl:1: not a JSON object; skipped" in err
    assert "prompts.jsonl:3:" in err and "sampler" in err
    assert "prompts.jsonl:4: id 'letters-a' names the same trace as line 2; skipped" in err
    assert sorted(p.name for p in out_dir.glob("*.trace")) == ["letters-a.trace", "rate-a.trace"]


def test_a_rerun_keeps_complete_traces_and_records_incomplete_ones(tmp_path: Path) -> None:
    code, out_dir = batch(tmp_path, prompts=PROMPTS[:3])
    assert code == 0
    kept = (out_dir / "rate-a.trace").read_bytes()
    cut = out_dir / "rate-b.trace"
    cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) // 2])  # a run killed halfway
    code, _ = batch(tmp_path, prompts=PROMPTS[:3])
    assert code == 0
    assert (out_dir / "rate-a.trace").read_bytes() == kept
    assert load_trace(cut).complete


def test_a_rerun_leaves_what_is_not_its_own_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "rate-a.trace").write_text("my notes")
    shutil.copy(Path(__file__).parent.parent / "sample_traces" / "lily.trace", out_dir / "rate-b.trace")
    code, _ = batch(tmp_path, prompts=PROMPTS[:2])
    err = capsys.readouterr().err
    assert code == 0
    assert (out_dir / "rate-a.trace").read_text() == "my notes"
    assert (out_dir / "rate-b.trace").read_bytes() == (
        Path(__file__).parent.parent / "sample_traces" / "lily.trace"
    ).read_bytes()
    assert "rate-a.trace holds a file that is not a trace; left alone" in err
    assert "rate-b.trace holds another prompt's or run's trace; left alone" in err
    statuses = [json.loads(line)["status"] for line in (out_dir / "index.jsonl").read_text().splitlines()]
    assert statuses == ["not a trace", "other run"]


def test_an_unfinished_trace_of_another_run_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a user's interrupted run that happens to bear a line's name: not this batch's to record over
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    lily = (Path(__file__).parent.parent / "sample_traces" / "lily.trace").read_bytes()
    (out_dir / "rate-a.trace").write_bytes(lily[: len(lily) // 2])
    code, _ = batch(tmp_path, prompts=PROMPTS[:2])
    assert code == 0
    assert (out_dir / "rate-a.trace").read_bytes() == lily[: len(lily) // 2]
    assert "rate-a.trace holds another prompt's or run's trace; left alone" in capsys.readouterr().err
    statuses = [json.loads(line)["status"] for line in (out_dir / "index.jsonl").read_text().splitlines()]
    assert statuses == ["other run", "complete"]


def test_the_index_replaces_only_an_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DIR/index.jsonl is replaced only where it is an earlier run's index: the prompts file
    itself, the user's own file of that name or a folder is refused before loading, and kept."""
    from llada_tui.core import recording

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    index = out_dir / "index.jsonl"
    write_prompts(index, PROMPTS[:1])
    kept = index.read_bytes()
    assert main(["record", "--prompts", str(index), "--out-dir", str(out_dir), *FAST]) == 2
    assert "is where the batch writes its index: rename the prompts file" in capsys.readouterr().err
    prompts = write_prompts(tmp_path / "p.jsonl", PROMPTS[:1])
    assert main(["record", "--prompts", str(prompts), "--out-dir", str(out_dir), *FAST]) == 2
    assert "index.jsonl is not a batch index, which the batch's index would replace" in capsys.readouterr().err
    assert index.read_bytes() == kept
    index.unlink()
    (index / "inside").mkdir(parents=True)
    assert main(["record", "--prompts", str(prompts), "--out-dir", str(out_dir), *FAST]) == 2
    assert "index.jsonl is a folder" in capsys.readouterr().err
    assert sorted(path.name for path in out_dir.iterdir()) == ["index.jsonl"]


def test_the_index_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    """The index is written to a new temporary file first, not to one at a name known in advance."""
    victim = tmp_path / "victim"
    victim.write_text("mine")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / f".index.jsonl.{os.getpid()}.tmp").symlink_to(victim)  # the name it used to write to
    index = write_index(out_dir, [{"line": 1, "status": "bad line", "error": "x"}])
    assert victim.read_text() == "mine"
    assert json.loads(index.read_text()) == {"line": 1, "status": "bad line", "error": "x"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--prompts", "p.jsonl", "--out-dir", "o"], "give a PROMPT or --prompts FILE.jsonl, not both"),
        (["--prompts", "p.jsonl"], "--prompts needs --out-dir DIR"),
        (["--prompts", "p.jsonl", "--out-dir", "o", "-o", "x.trace"], "not -o"),
        (["x", "-o", "x.trace", "--out-dir", "o"], "--out-dir goes with --prompts FILE.jsonl"),
        (["--prompts", "p.jsonl", "--out-dir", "o", "--batch-size", "0"], "--batch-size must be between 1 and"),
        (["--prompts", "p.jsonl", "--out-dir", "o", "--force"], "--force goes with -o FILE"),
        ([], "give a PROMPT (or --prompts FILE.jsonl)"),
        (["x"], "the following arguments are required: -o/--output"),
    ],
)
def test_mixed_arguments_are_refused_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["record", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def test_missing_prompts_and_unusable_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--prompts", str(tmp_path / "none.jsonl"), "--out-dir", str(tmp_path / "o")]) == 1
    assert "none.jsonl: no such file" in capsys.readouterr().err
    assert main(["record", "--prompts", str(tmp_path), "--out-dir", str(tmp_path / "o")]) == 1
    assert "is a folder, not a prompts file" in capsys.readouterr().err
    if Path("/dev/zero").exists():  # never ends: refused, not read
        assert main(["record", "--prompts", "/dev/zero", "--out-dir", str(tmp_path / "o")]) == 1
        assert "/dev/zero: not a regular file" in capsys.readouterr().err
    prompts = write_prompts(tmp_path / "p.jsonl", PROMPTS[:1])
    (tmp_path / "file").write_text("")
    assert main(["record", "--prompts", str(prompts), "--out-dir", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    empty = write_prompts(tmp_path / "bad.jsonl", ["{}", "nope"])
    assert main(["record", "--prompts", str(empty), "--out-dir", str(tmp_path / "o2")]) == 1
    assert "bad.jsonl: no usable prompt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()  # nothing made for a refused run


# ---------------------------------------------------------------------------- the prompts file


def test_prompt_file_lines(tmp_path: Path) -> None:
    path = write_prompts(
        tmp_path / "p.jsonl",
        [
            {"prompt": "a"},
            "",
            {"prompt": "b", "id": "../../etc/passwd"},
            {"prompt": "c", "id": 12, "temperature": 1, "steps": None},
            {"prompt": "d", "steps": True},
            {"prompt": "e", "colour": "red"},
            {"prompt": "f", "id": "P1"},  # the same file name as line 1's, on a case-blind disk
            {"prompt": "g", "id": "..."},
            '{"prompt": "h"',
        ],
    )
    jobs, bad = read_prompt_file(path, SamplingOptions(seed=5))
    assert [(job.line, job.id) for job in jobs] == [(1, "p1"), (3, "_.._etc_passwd"), (4, "12")]
    assert jobs[2].options.temperature == 1 and jobs[2].options.seed == 5
    assert [(line.line, line.reason.split(" ")[0]) for line in bad] == [
        (5, "steps"),
        (6, "unknown"),
        (7, "id"),
        (8, '"id"'),
        (9, "not"),
    ]
    assert bad[-1].reason == "not JSON: Expecting ',' delimiter at column 15"


def test_the_prompts_are_rendered_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chat template is rendered in a sandboxed child process (about 0.2 s to start): once per
    chunk of prompts, not twice per prompt (5000 prompts took half an hour before anything showed).
    A prompt the tokenizer refuses is still its own line's; every trace holds its prompt's ids."""
    from llada_tui.cli import batch as batch_command
    from llada_tui.core import chat_template
    from llada_tui.core.checkpoint import resolve_checkpoint
    from llada_tui.core.tokenizer import load_tokenizer

    renders = []
    render = chat_template.render_in_child
    monkeypatch.setattr(chat_template, "render_in_child", lambda *a: renders.append(a) or render(*a))
    monkeypatch.setattr(batch_command, "RENDER_CHUNK", 4)
    chat_template.render_chats.cache_clear()
    lines = [{"prompt": RATE.format(n, 2, 3, 4), "id": f"r{n}"} for n in range(10, 19)]
    lines[5] = {"prompt": "a mask <|mdm_mask|> typed in", "parse_special": True, "id": "masked"}
    lines[6] = {"prompt": "raw text, no chat", "chat_template": False, "id": "raw"}
    code, out_dir = batch(tmp_path, "--steps", "2", "--gen-length", "8", "--block-length", "8", prompts=lines)
    assert code == 0
    assert "prompts.jsonl:6: the prompt contains the mask token" in capsys.readouterr().err
    # chunks: lines 1-4, 5, 6 (parse_special; refused), 7 (no chat), 8-9: 4 renders, and 1 of the stand-in
    assert len(renders) == 5
    tokenizer = load_tokenizer(resolve_checkpoint(None))
    for line in lines[:5] + lines[7:]:
        header = load_trace(out_dir / f"{line['id']}.trace").header
        assert header.prompt_text == line["prompt"]
        assert list(header.prompt_ids) == tokenizer.apply_chat_template(line["prompt"])
    assert list(load_trace(out_dir / "raw.trace").header.prompt_ids) == tokenizer.encode("raw text, no chat")


def test_prompt_file_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line that is not UTF-8, or too long to hold a usable prompt, is one bad line; a byte-order
    mark before the first is dropped; an id Windows keeps for a device gets a leading '_'."""
    from llada_tui.core import prompt_file

    monkeypatch.setattr(prompt_file, "MAX_LINE_BYTES", 250_000)
    lines = [
        b'\xef\xbb\xbf{"prompt": "a"}',
        b'{"prompt": "caf\xe9"}',
        b'{"prompt": "' + b"x" * 300_000 + b'"}',
        b'{"prompt": "b", "id": "CON"}',
        b'{"prompt": "c", "id": "aux.notes"}',
        b'{"prompt": "d", "id": "console"}',
        b'{"prompt": "e", "seed": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ]
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\n")
    jobs, bad = read_prompt_file(path, SamplingOptions())
    assert [(job.line, job.id, job.prompt) for job in jobs] == [
        (1, "p1", "a"),
        (4, "_CON", "b"),
        (5, "_aux.notes", "c"),
        (6, "console", "d"),
    ]
    assert [(line.line, line.reason) for line in bad] == [
        (2, "not UTF-8 text (byte 16 of the line)"),
        (3, "longer than 250000 bytes"),
        (7, "not JSON this reader takes: nested too deeply"),
    ]


# ---------------------------------------------------------------------------- killed, and torchrun


LLADA_TUI = str(Path(sys.executable).parent / "llada-tui")


def start_batch(prompts_file: Path, out_dir: Path, launcher: tuple[str, ...] = (), *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*launcher, LLADA_TUI, "record", "--prompts", str(prompts_file), "--out-dir", str(out_dir), *FAST, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_run_loses_only_the_prompt_it_was_on(tmp_path: Path, singles: dict) -> None:
    prompts_file = write_prompts(tmp_path / "p.jsonl", PROMPTS)
    out_dir = tmp_path / "out"
    process = start_batch(prompts_file, out_dir)  # one prompt at a time: rate-a, -b, -c, -d, then letters
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out_dir / "rate-c.trace").exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    done = {path.name: path.read_bytes() for path in out_dir.glob("*.trace") if load_trace(path).complete}
    assert set(done) == {"rate-a.trace", "rate-b.trace"}
    code, _ = batch(tmp_path)  # the same prompts file, the same folder
    assert code == 0
    for name, data in done.items():
        assert (out_dir / name).read_bytes() == data
    for line in PROMPTS:
        assert steps_of(out_dir / f"{line['id']}.trace") == singles["0", line["id"]]


def test_ctrl_c_leaves_an_index_of_where_the_run_stopped(tmp_path: Path) -> None:
    prompts_file = write_prompts(tmp_path / "p.jsonl", PROMPTS)
    out_dir = tmp_path / "out"
    process = start_batch(prompts_file, out_dir)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out_dir / "rate-b.trace").exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate()
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "llada-tui: interrupted"
    assert "Traceback" not in err
    entries = [json.loads(line) for line in (out_dir / "index.jsonl").read_text().splitlines()]
    assert [entry["id"] for entry in entries] == [line["id"] for line in PROMPTS]
    for entry in entries:  # each as its trace is on disk
        path = out_dir / entry["trace"]
        on_disk = "missing" if not path.exists() else "complete" if load_trace(path).complete else "incomplete"
        assert entry["status"] == on_disk, entry


def test_a_batch_out_of_memory_names_its_lines_and_the_batch_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(batch_recording, "record_batch", out_of_memory)
    rates = [line for line in PROMPTS if line["id"].startswith("rate")]  # lines 1, 2, 4, 6 of PROMPTS
    code, _ = batch(tmp_path, "--batch-size", "4", prompts=[*rates[:2], {"prompt": ""}, *rates[2:3], {}, rates[3]])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "llada-tui: warning: lines 1-2, 4, 6: out of GPU memory at 4 prompts per forward; "
        "rerun with a smaller --batch-size" in err
    )


def test_a_world_without_a_meeting_place_is_refused_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORLD_SIZE left set in a shell, without torchrun's MASTER_ADDR and MASTER_PORT: one line,
    not torch.distributed's traceback after the checks; no folder made."""
    from llada_tui.core import recording

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    prompts = write_prompts(tmp_path / "p.jsonl", PROMPTS[:2])
    assert main(["record", "--prompts", str(prompts), "--out-dir", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err == "llada-tui: error: WORLD_SIZE is 2 but MASTER_ADDR is not set: start the ranks with torchrun\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("gpus", "local_rank", "message"),
    [
        (0, "0", "CUDA is not available; use --device cpu"),
        (2, "3", "LOCAL_RANK 3, but this machine has 2 GPUs"),
    ],
)
def test_a_gpu_that_is_not_there_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    gpus: int,
    local_rank: str,
    message: str,
) -> None:
    import torch

    from llada_tui.core import recording

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: pytest.fail(f"set cuda:{device}"))
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    prompts = write_prompts(tmp_path / "p.jsonl", PROMPTS[:1])
    argv = ["record", "--prompts", str(prompts), "--out-dir", str(tmp_path / "out"), *FAST]
    assert main([*argv, "--device", "cuda"]) == 1
    assert capsys.readouterr().err == f"llada-tui: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_torchrun_ranks_share_the_prompts(tmp_path: Path, singles: dict) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    prompts_file = write_prompts(tmp_path / "p.jsonl", PROMPTS)
    out_dir = tmp_path / "out"
    # Batches of two: rank 0 records rate-a and -b in one forward and letters-a, rank 1 rate-c and -d, letters-b.
    launcher = (torchrun, "--standalone", "--nproc-per-node", "2", "--no-python")
    process = start_batch(prompts_file, out_dir, launcher, "--batch-size", "2")
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    entries = [json.loads(line) for line in (out_dir / "index.jsonl").read_text().splitlines()]
    assert [entry["status"] for entry in entries] == ["complete"] * len(PROMPTS)
    for line in PROMPTS:
        assert steps_of(out_dir / f"{line['id']}.trace") == singles["0", line["id"]]


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_cached_rows_equal_single_cached_runs(cache: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast-dLLM's caches without a threshold take the same forwards in every row: they batch too."""
    options = ["--cache", cache, "--temperature", "0.8"]
    rates = [line for line in PROMPTS if line["id"].startswith("rate")]
    expected = {line["id"]: steps_of(single_run(tmp_path, line, options)) for line in rates}
    sizes = []
    real = batch_recording.sample

    def counting(*args, **kwargs):
        sizes.append((args[1].shape[0], args[2].cache))
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_recording, "sample", counting)
    code, out_dir = batch(tmp_path, "--batch-size", "2", *options, prompts=rates)
    assert code == 0 and sizes == [(2, cache), (2, cache)]
    for line in rates:
        assert steps_of(out_dir / f"{line['id']}.trace") == expected[line["id"]], line["id"]


def test_a_threshold_samples_each_prompt_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = []
    monkeypatch.setattr(batch_recording, "sample", lambda *args, **kwargs: sizes.append(args))
    options = ["--sampler", "threshold", "--threshold", "0.9", "--cache", "dual"]
    code, out_dir = batch(tmp_path, "--batch-size", "4", *options, prompts=PROMPTS[:2])
    assert code == 0 and sizes == []
    assert all(load_trace(out_dir / f"{line['id']}.trace").complete for line in PROMPTS[:2])


def test_a_trace_of_the_prompt_with_other_options_is_another_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out_dir = batch(tmp_path, prompts=PROMPTS[:1])
    kept = (out_dir / "rate-a.trace").read_bytes()
    assert code == 0
    code, _ = batch(tmp_path, "--block-length", "16", prompts=PROMPTS[:1])  # the same prompt, other blocks
    assert code == 0
    assert "rate-a.trace holds another prompt's or run's trace; left alone" in capsys.readouterr().err
    assert (out_dir / "rate-a.trace").read_bytes() == kept
    assert json.loads((out_dir / "index.jsonl").read_text())["status"] == "other run"
