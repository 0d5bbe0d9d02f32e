"""The fuzz regression suite (issue 11, "Done when"): thousands of hostile traces through the
reader, `info` and `export`.

Every case is a valid trace damaged by tests/fuzz/trace_mutations.py, the same every run; a
failure names its case number, which reproduces it alone (`run_case(number)`). For each case:

- load_trace raises TraceError with a one-line message, or gives a trace whose header and steps
  are all sane (lengths, ranges, finite numbers, JSON-like metadata); nothing else is raised;
- the trace's own account matches what it delivered: its warning says "after step N" for the N
  steps it kept (no step after damage), and it is complete only with every step and no warning;
- reading the file as it grows, in pieces, gives the same steps and the same warning;
- each case takes well under a second;
- `info`, `export` and `export --candidates` exit 0 or 1, print one line on error and never a
  traceback, and export writes JSON that a parser refusing NaN and Infinity accepts;
- nothing printed holds a C0 or C1 control character other than a newline, a bidirectional
  control or a zero-width character.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from fuzz.trace_mutations import fuzz_case, is_finite_json, seed_traces

from llada_tui.cli.main import main
from llada_tui.core.records import MAX_TOKEN_TEXT_CHARS, MAX_TOPK, Step, TraceError
from llada_tui.core.trace_reader import Trace, TraceReader, describe_ending, load_trace

CASES = 3000
BATCHES = 30
SECONDS_PER_CASE = 1.0  # of CPU time: wall time on a loaded 2-core box tripped it (1.01 s) with no slow input
# C0 controls but newline, DEL, C1 controls, bidirectional controls, zero-width characters.
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
COMMANDS = (["info"], ["export"], ["export", "--candidates"])


@dataclass
class Result:
    reader: list[str] = field(default_factory=list)  # broken reader invariants
    cli: list[str] = field(default_factory=list)  # broken exit code / one-line / JSON invariants
    controls: list[str] = field(default_factory=list)  # control characters in what was printed


@cache
def seeds() -> tuple[bytes, ...]:
    with tempfile.TemporaryDirectory() as folder:
        return tuple(seed_traces(Path(folder)))


@cache
def workdir() -> Path:
    folder = tempfile.mkdtemp(prefix="trace-fuzz-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


def check_trace(trace: Trace) -> list[str]:
    """What is wrong with a trace the reader accepted (nothing, if it is sane)."""
    problems = []
    header = trace.header
    params = header.params
    n, total = header.gen_length, header.total_steps
    if not (is_finite_json(dict(header.model)) and is_finite_json(dict(params))):
        problems.append("model or params not JSON-like")
    block = header.block_length
    if not (0 < block <= n and n % block == 0 and 0 < total <= n and total % (n // block) == 0):
        problems.append(f"lengths out of range: {n}, {total}, {block}")
    if not (0 <= header.mask_id < 1 << 31):
        problems.append("mask id out of range")
    texts = header.token_texts
    if not all(isinstance(t, str) and len(t) <= MAX_TOKEN_TEXT_CHARS and 0 <= i < 1 << 31 for i, t in texts.items()):
        problems.append("a token text is not a short string of a valid id")
    if len(trace.steps) > total:
        problems.append(f"{len(trace.steps)} steps of {total}")
    for expected, step in enumerate(trace.steps):
        problems.extend(f"step {expected}: {p}" for p in check_step(step, expected, n, n // block))
    warning = trace.warning
    if warning is not None and ("\n" in warning or f"after step {len(trace.steps)} of {total}" not in warning):
        problems.append(f"warning does not account for the {len(trace.steps)} steps kept: {warning!r}")
    if trace.complete and (warning is not None or len(trace.steps) != total or len(trace.end.final_ids) != n):
        problems.append("complete, but not every step or the whole answer is there")
    if trace.end is not None and not (math.isfinite(trace.end.total_ms) and min(trace.end.final_ids, default=0) >= 0):
        problems.append("end record holds bad values")
    return problems


def check_step(step: Step, expected: int, gen_length: int, blocks: int) -> list[str]:
    problems = []
    positions, ids, conf = list(step.positions), list(step.ids), list(step.confidences)
    if step.index != expected or not 0 <= step.block < blocks:
        problems.append(f"index {step.index}, block {step.block}")
    if not len(positions) == len(ids) == len(conf) or len(set(positions)) != len(positions):
        problems.append("arrays differ in length or repeat a position")
    if not all(0 <= p < gen_length for p in positions) or not all(0 <= i < 1 << 31 for i in ids):
        problems.append("a position or id out of range")
    if not all(math.isfinite(c) and 0 <= c <= 1 for c in conf) or not math.isfinite(step.wall_ms):
        problems.append("a confidence or the wall time is not a finite probability / time")
    candidates = step.candidates
    if candidates is not None:
        c_pos, c_ids, c_probs = list(candidates.positions), list(candidates.ids), list(candidates.probs)
        if not (1 <= candidates.k <= MAX_TOPK and len(c_ids) == len(c_probs) == len(c_pos) * candidates.k):
            problems.append("candidate arrays do not match")
        if not all(0 <= p < gen_length for p in c_pos) or not all(0 <= i < 1 << 31 for i in c_ids):
            problems.append("a candidate position or id out of range")
        if not all(math.isfinite(p) and 0 <= p <= 1 for p in c_probs):
            problems.append("a candidate probability is not a finite probability")
    return problems


def same_steps(a: list[Step], b: list[Step]) -> bool:
    def key(step: Step) -> tuple:
        c = step.candidates
        arrays = (c.positions, c.ids, c.probs) if c is not None else ()
        return step.index, list(step.positions), list(step.ids), list(step.confidences), [list(x) for x in arrays]

    return [key(s) for s in a] == [key(s) for s in b]


def read_in_pieces(data: bytes, path: Path, rng: random.Random) -> tuple[list[Step] | None, str | None]:
    """Steps and warning as a follower sees them, the file growing in a few pieces (None: refused)."""
    path.write_bytes(b"")
    cuts = sorted(rng.sample(range(1, len(data)), min(3, len(data) - 1))) if len(data) > 1 else []
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)])]
    reader = TraceReader(path)
    steps: list[Step] = []
    try:
        with open(path, "ab") as file:
            for piece in pieces:
                file.write(piece)
                file.flush()
                steps.extend(r for r in reader.poll() if isinstance(r, Step))
    except TraceError:
        return None, None
    finally:
        reader.close()
    if reader.header is None:
        return None, None
    return steps, describe_ending(reader)


def run_cli(arguments: list[str]) -> tuple[int, str, str]:
    """main(arguments) with stdout and stderr captured as the bytes a terminal would get."""
    out, err = io.BytesIO(), io.BytesIO()
    out_text = io.TextIOWrapper(out, encoding="utf-8", errors="backslashreplace", write_through=True)
    err_text = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text):
        try:
            code = main(arguments)
        except SystemExit as exit_:
            code = exit_.code
        except Exception as error:  # a traceback in real life
            code = f"raised {type(error).__name__}: {error}"
    out_text.flush()
    err_text.flush()
    return code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")


def refuse_constant(name: str) -> float:
    raise ValueError(f"{name} in the JSON")


def check_cli(path: Path, result: Result) -> None:
    for command in COMMANDS:
        code, out, err = run_cli([*command, str(path)])
        what = " ".join(command)
        if code not in (0, 1) or "Traceback" in err:
            result.cli.append(f"{what}: exit {code!r}, stderr {err[-300:]!r}")
            continue
        if code == 1 and (err.count("\n") != 1 or not err.endswith("\n") or out):
            result.cli.append(f"{what}: the error is not one line: {err[-300:]!r}")
        if code == 0 and command[0] == "export":
            try:
                json.loads(out, parse_constant=refuse_constant)
            except ValueError as error:
                result.cli.append(f"{what}: not strict JSON ({error})")
        for stream, text in (("stdout", out), ("stderr", err)):
            if found := FORBIDDEN.search(text):
                result.controls.append(f"{what}: {stream} holds {found.group()!r}")


@cache
def run_case(number: int) -> Result:
    case = fuzz_case(list(seeds()), number)
    result = Result()
    path = workdir() / f"case-{number}.trace"
    path.write_bytes(case.data)
    started = time.process_time()
    trace: Trace | None = None
    try:
        trace = load_trace(path)
    except TraceError as error:
        if "\n" in str(error):
            result.reader.append(f"{case}: refusal is not one line: {error!r}")
    except Exception as error:  # anything but TraceError is a bug
        result.reader.append(f"{case}: raised {type(error).__name__}: {error}")
    if trace is not None:
        result.reader.extend(f"{case}: {p}" for p in check_trace(trace))
    growing = workdir() / f"case-{number}.growing"
    pieces_steps, pieces_warning = read_in_pieces(case.data, growing, random.Random(number))
    if trace is None and pieces_steps is not None:
        result.reader.append(f"{case}: refused whole, accepted in pieces")
    if trace is not None and (
        pieces_steps is None or not same_steps(trace.steps, pieces_steps) or pieces_warning != trace.warning
    ):
        result.reader.append(f"{case}: read in pieces: {pieces_warning!r}, whole: {trace.warning!r}")
    if (seconds := time.process_time() - started) > SECONDS_PER_CASE:
        result.reader.append(f"{case}: reading took {seconds:.2f} s of CPU")
    started = time.process_time()
    check_cli(path, result)
    result.cli = [f"{case}: {p}" for p in result.cli]
    result.controls = [f"{case}: {p}" for p in result.controls]
    if (seconds := time.process_time() - started) > 3 * SECONDS_PER_CASE:
        result.cli.append(f"{case}: info and export took {seconds:.2f} s of CPU")
    path.unlink()
    growing.unlink()
    return result


def batch(index: int) -> range:
    size = CASES // BATCHES
    return range(index * size, (index + 1) * size)


@pytest.mark.parametrize("index", range(BATCHES))
def test_fuzzed_traces_are_read_safely(index: int) -> None:
    problems = [p for number in batch(index) for p in run_case(number).reader]
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("index", range(BATCHES))
def test_fuzzed_traces_through_info_and_export(index: int) -> None:
    problems = [p for number in batch(index) for p in run_case(number).cli]
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("index", range(BATCHES))
def test_fuzzed_traces_print_no_control_characters(index: int) -> None:
    problems = [p for number in batch(index) for p in run_case(number).controls]
    assert not problems, "\n".join(problems[:10])


def test_the_fuzzer_makes_every_kind_of_case() -> None:
    """The corpus keeps its reach: refusals, damaged tails, and traces that read whole."""
    outcomes = {"refused": 0, "damaged": 0, "cut short": 0, "complete": 0}
    for number in range(300):
        case = fuzz_case(list(seeds()), number)
        path = workdir() / "census.trace"
        path.write_bytes(case.data)
        try:
            trace = load_trace(path)
        except TraceError:
            outcomes["refused"] += 1
            continue
        for outcome in ("damaged", "cut short", "complete"):
            if (trace.warning or "complete").startswith(outcome):
                outcomes[outcome] += 1
    assert all(count >= 10 for count in outcomes.values()), outcomes
