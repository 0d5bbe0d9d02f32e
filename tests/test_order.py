"""`llada-tui order` and core/answer_order.py: the answer span's steps against the reasoning's.

The numbers are checked against a plain restatement of the definition that reads only what
`llada-tui export --format json` writes (every step's changes, the final ids and text), on traces
the demo model recorded: the reference sampler, the threshold, a cached and a WINO run, and WINO
re-masking tokens outside the chat format.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
from named_pipes import named_pipe

from llada_tui.cli.main import main
from llada_tui.core.answer_order import answer_order, find_span
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from tests.synthetic_traces import Revision, hostile_trace, write_trace

SAMPLES = Path(__file__).parent.parent / "sample_traces"
DEMO_TRACES = [
    "lily.trace",
    "lily-one-block.trace",
    "lily-random.trace",
    "lady-gaga.trace",
    "sammy.trace",
    "lily-threshold.trace",
    "lily-dual-cache.trace",
    "lily-wino.trace",
    "raw-letters-wino.trace",
]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["order", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def restated(document: dict, span_pattern: str | None = None) -> dict:
    """The order of one run from its JSON export, restated from the definition."""
    final_ids = document["final"]["ids"]
    last_change: dict[int, tuple[int, int, str]] = {}  # pos -> (1-based step, id, text) of its last change
    for step in document["steps"]:
        for change in step["changes"]:
            last_change[change["pos"]] = (step["step"] + 1, change["id"], change["text"])
    # The final text leaves masked and special tokens out; walk it token by token, up to the
    # reply's end: its first end-of-text or end-of-turn token.
    text = document["final"]["text"]
    ends = {document["params"]["eos_id"], document["params"]["eot_id"]}
    tokens = []  # (pos, start, end, step)
    at = 0
    for pos, token_id in enumerate(final_ids):
        if token_id in ends:
            break
        if pos not in last_change:
            continue
        step, last_id, piece = last_change[pos]
        assert last_id == token_id
        if text.startswith(piece, at):
            tokens.append((pos, at, at + len(piece), step))
            at += len(piece)
    text = text[:at]
    pattern = span_pattern or r"(?:the\s+)?answer\s+is:?[ \t]*(.*?)\s*(?:\.(?!\d)|\n|$)"
    matches = [m for m in re.finditer(pattern, text, re.IGNORECASE) if (m.group(m.re.groups and 1) or "").strip()]
    if not matches:
        return {"span": None, "reasoning": None, "steps": len(document["steps"])}
    match = matches[-1]
    group = 1 if match.re.groups else 0
    raw = match.group(group)
    start = match.start(group) + len(raw) - len(raw.lstrip())
    end = match.start(group) + len(raw.rstrip())
    span_steps = [step for _, first, last, step in tokens if first < end and last > start]
    lead_in = min(match.start(), start)
    reasoning = [step for _, first, last, step in tokens if last <= lead_in and text[first:last].strip()]
    after = sum(step > max(span_steps) for step in reasoning)
    return {
        "span": {"text": text[start:end], "first_step": min(span_steps), "complete_step": max(span_steps)},
        "reasoning": {
            "tokens": len(reasoning),
            "median_step": statistics.median(reasoning) if reasoning else None,
            "after_span": after / len(reasoning) if reasoning else None,
        },
        "steps": len(document["steps"]),
    }


def exported(capsys: pytest.CaptureFixture[str], path: Path) -> dict:
    assert main(["export", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", DEMO_TRACES)
def test_order_equals_a_restatement_from_the_export(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / name
    expected = restated(exported(capsys, path))
    code, out, _ = run_cli(capsys, path, "--json")
    got = json.loads(out)
    assert code == 0
    assert {key: got[key] for key in expected} == expected
    assert got["span"] is not None and got["complete"] is True


def test_the_wino_sample_rewrites_tokens_of_the_answer_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    """The revising sample is a real test of "the step it took its final token": some positions
    of its text were re-masked, so their first commit is not the step order counts."""
    run = RunIndex.of_trace(load_trace(SAMPLES / "raw-letters-wino.trace"))
    order = answer_order(run)
    visible = [pos for pos in range(run.gen_length) if order.final_steps[pos] is not None]
    first_commit = {pos: run.history(pos)[0].step + 1 for pos in visible}
    rewritten = [pos for pos in visible if first_commit[pos] != order.final_steps[pos]]
    assert sum(run.remasked_per_step) == 10 and rewritten


def test_a_span_custom_pattern_on_a_revising_trace(capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / "raw-letters-wino.trace"  # WINO re-masking: " y. Way ends in y. Snowy ends in a. ..."
    pattern = r"(\w+) ends in y"
    expected = restated(exported(capsys, path), pattern)
    code, out, _ = run_cli(capsys, path, "--json", "--span", pattern)
    assert code == 0 and expected["span"]["text"] == "Way"
    assert {key: json.loads(out)[key] for key in expected} == expected


def test_a_reply_that_ends_at_once_has_no_span(capsys: pytest.CaptureFixture[str]) -> None:
    """raw-wino's first token is the end of text: the noise after it is no reply."""
    code, out, _ = run_cli(capsys, SAMPLES / "raw-wino.trace", "--json", "--span", r"\d+")
    assert code == 1 and json.loads(out)["span"] is None


# ---------------------------------------------------------------------------- the definition


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Total: 48 + 24 = 72. The answer is 72.", "72"),
        ("The answer is 72", "72"),
        ("the ANSWER is: 2.5 km. Then more.", "2.5 km"),
        ("The answer is (b) populated areas.", "(b) populated areas"),
        ("The answer is 3.\nThe answer is 4.", "4"),
        ("The answer is 3. The answer is .", "3"),  # a blank span is skipped for the one before
        ("The answer is 12\nbecause 5 + 7 = 12.", "12"),
        ("No answer here.", None),
    ],
)
def test_the_default_span(text: str, span: str | None) -> None:
    found = find_span(text)
    assert (found and text[found[1] : found[2]]) == span


def test_the_lead_in_starts_at_the_answer_sentence() -> None:
    text = "So 48 + 24 = 72. The answer is 72."
    lead_in, start, _ = find_span(text)
    assert text[lead_in:start] == "The answer is "


def test_a_custom_span_takes_its_first_group_else_the_whole_match() -> None:
    text = "Total: 48 + 24 = 72 kilometers. Done."
    assert find_span(text, re.compile(r"(\d+) kilometers"))[1:] == (17, 19)
    lead_in, start, end = find_span(text, re.compile(r"\d+ kilometers"))
    assert (lead_in, text[start:end]) == (start, "72 kilometers")


ANSWER = ["We", " add", " 48", " and", " 24", ".", " The", " answer", " is", " 72", ".", "<eot>"]
SPAN = ANSWER.index(" 72")


def test_a_revised_span_counts_from_its_final_token(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path / "r.trace",
        ANSWER,
        steps=12,
        block_length=12,
        revisions=[Revision(0, SPAN, " 70"), Revision(9, SPAN, " 72")],
        sure=(),
    )
    order = answer_order(RunIndex.of_trace(load_trace(path)))
    assert order.span.text == "72"
    assert (order.span.first_step, order.span.complete_step) == (10, 10)  # step index 9, not its first commit
    assert order.span.positions == range(SPAN, SPAN + 1)
    assert order.span.lead_in == range(ANSWER.index(" The"), SPAN)
    assert order.reasoning.positions == tuple(range(6))  # the reasoning ends before " The"


def test_a_remasked_span_counts_from_its_commit_after(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path / "m.trace",
        ANSWER,
        steps=12,
        block_length=12,
        revisions=[Revision(0, SPAN, " 72"), Revision(1, SPAN, None)],
        sure=(),
    )
    trace = load_trace(path)
    recommitted = max(step.index for step in trace.steps if SPAN in step.positions)
    assert recommitted > 1
    assert answer_order(RunIndex.of_trace(trace)).span.complete_step == recommitted + 1


def test_answer_first_when_most_of_the_reasoning_came_after(tmp_path: Path) -> None:
    # Block length 12, one token per step, the span's " 72" the most sure: committed at step 1.
    path = write_trace(tmp_path / "f.trace", ANSWER, steps=12, block_length=12, sure=(SPAN,))
    order = answer_order(RunIndex.of_trace(load_trace(path)))
    assert order.span.complete_step == 1
    assert order.reasoning.after_span == 1.0 and order.reasoning.answer_first


# ---------------------------------------------------------------------------- the command


def test_a_folder_is_every_trace_in_it_and_json_is_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("lily.trace", "sammy.trace"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    (tmp_path / "notes.txt").write_text("not a trace")
    code, out, _ = run_cli(capsys, tmp_path, "--json")
    documents = json.loads(out)
    assert code == 0
    assert [Path(d["trace"]).name for d in documents] == ["lily.trace", "sammy.trace"]
    assert [d["span"]["text"] for d in documents] == ["72", "(b) populated areas"]


def test_a_folder_lists_numbered_names_by_their_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("p10.trace", "p9.trace", "p1.trace", "lily-2b.trace", "lily-10a.trace", "1²2.trace"):
        (tmp_path / name).write_bytes((SAMPLES / "lily.trace").read_bytes())  # a batch's default ids: p<line>
    code, out, _ = run_cli(capsys, tmp_path, "--json")
    assert code == 0
    names = [Path(d["trace"]).name for d in json.loads(out)]
    assert names == ["1²2.trace", "lily-2b.trace", "lily-10a.trace", "p1.trace", "p9.trace", "p10.trace"]


def test_the_table_has_a_row_a_summary_and_a_strip_per_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, SAMPLES / "lily.trace", SAMPLES / "sammy.trace")
    lines = out.splitlines()
    assert code == 0
    row = next(line for line in lines if line.startswith("lily "))
    assert row.split()[:6] == ["lily", "reference", "b16", "72", "47", "64"]
    assert "2 of 2 traces have an answer span" in out
    strips = [line for line in lines if "│" in line]
    assert len(strips) == 2 and all(line.count("◆") == 1 for line in strips)


def test_a_trace_without_a_span_gets_a_line_and_the_exit_is_zero_if_another_has_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, SAMPLES / "raw-wino.trace", SAMPLES / "lily.trace")
    assert code == 0
    assert any(line.startswith("raw-wino") and "no answer span" in line for line in out.splitlines())


def test_no_span_anywhere_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, SAMPLES / "raw-wino.trace", "--json")
    assert code == 1
    assert json.loads(out)["span"] is None
    assert err.strip() == 'llada-tui: error: no trace has an answer span ("the answer is ...")'


def test_an_unreadable_trace_is_a_line_not_the_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.trace"
    broken.write_bytes(b"\x00garbage")
    code, out, _ = run_cli(capsys, broken, SAMPLES / "lily.trace", "--json")
    documents = json.loads(out)
    assert code == 0
    assert "error" in documents[0] and documents[1]["span"]["text"] == "72"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["/no/such.trace"], 1, "llada-tui: error: /no/such.trace: no such file"),
        (["--span", "(", "sample_traces/lily.trace"], 2, "llada-tui: error: --span: not a regular expression"),
        (["--span", "", "sample_traces/lily.trace"], 2, "llada-tui: error: --span: give a regular expression, not"),
    ],
)
def test_mistakes_are_one_line(args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    got, out, err = run_cli(capsys, *args)
    assert got == code and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


def test_a_pipe_is_refused_not_waited_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with named_pipe(tmp_path / "pipe.trace") as pipe:  # opening it to read would wait for a writer
        code, out, err = run_cli(capsys, SAMPLES / "lily.trace", pipe)
    assert (code, out) == (1, "") and err == f"llada-tui: error: {pipe}: not a regular file\n"


def test_an_empty_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, tmp_path)
    assert code == 1 and "no .trace files" in err


def test_an_unfinished_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_trace(
        tmp_path / "cut.trace", ANSWER, steps=12, block_length=12, sure=(SPAN,), ending="none", stop_after=11
    )
    code, out, _ = run_cli(capsys, path, "--json")
    got = json.loads(out)
    assert code == 0 and got["span"]["complete_step"] == 1
    assert got["complete"] is False and got["steps"] == 11
    _, table, _ = run_cli(capsys, path)
    assert "11 (so far)" in table


def test_hostile_token_texts_are_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = hostile_trace(tmp_path / "h.trace")
    code, out, _ = run_cli(capsys, path, "--span", r"red.*")
    assert code == 0
    assert "red" in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


def test_the_reply_ends_at_its_first_end_of_text(tmp_path: Path) -> None:
    """Text a model writes on after its end of turn (the demo model does at long lengths) is not its reply."""
    after = [" The", " answer", " is", " 104", "."]
    path = write_trace(tmp_path / "on.trace", ANSWER + after, steps=17, block_length=17, sure=())
    order = answer_order(RunIndex.of_trace(load_trace(path)))
    assert order.span.text == "72" and order.span.positions == range(SPAN, SPAN + 1)
