"""Trace format 2: runs whose sampler decides its own steps, re-masks and revisions, forward kinds."""

from __future__ import annotations

from array import array
from dataclasses import replace
from pathlib import Path

import pytest

from llada_tui.core.records import VARIABLE_STEPS_VERSION, End, Header, Step
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.core.trace_writer import TraceWriter

MASK = 99


def header(**params) -> Header:
    return Header(
        prompt_text="What is 2 + 2?",
        prompt_ids=[1, 5, 6, 7],
        model={"name": "tiny"},
        params={
            "steps": None,
            "gen_length": 8,
            "block_length": 4,
            "temperature": 0.0,
            "cfg_scale": 0.0,
            "remasking": "low_confidence",
            "mask_id": MASK,
            "sampler": "wino",
            "threshold": 0.6,
            "threshold_back": 0.9,
            "cache": "none",
            **params,
        },
        version=VARIABLE_STEPS_VERSION,
    )


def step(index: int, block: int, changes: dict[int, int], forward: str = "full") -> Step:
    return Step(
        index=index,
        block=block,
        positions=array("i", changes),
        ids=array("i", changes.values()),
        confidences=array("f", [0.5] * len(changes)),
        wall_ms=1.0,
        forward=forward,
    )


# Block 0 takes three forwards (one commits four, the next re-masks one and revises none, the
# last commits it again as another token), block 1 one forward: steps vary per block.
STEPS = [
    step(0, 0, {0: 10, 1: 11, 2: 12, 3: 13}),
    step(1, 0, {2: MASK}),
    step(2, 0, {2: 22}),
    step(3, 1, {4: 14, 5: 15, 6: 16, 7: 17}),
]
FINAL = [10, 11, 22, 13, 14, 15, 16, 17]


def write(path: Path, steps: list[Step], end: End | None, head: Header | None = None) -> None:
    writer = TraceWriter(path, head or header(), lambda token_id: f"t{token_id}")
    for s in steps:
        writer.write_step(s)
    writer.close(end)


def test_a_variable_step_run_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "wino.trace"
    write(path, STEPS, End("complete", FINAL))
    trace = load_trace(path)
    assert trace.complete and trace.warning is None
    assert trace.header.version == (2, 0) and trace.header.total_steps is None and trace.header.revises
    assert [s.forward for s in trace.steps] == ["full"] * 4
    run = RunIndex.of_trace(trace)
    assert run.total_steps == 4 and run.steps_known
    assert run.block_starts == [0, 3]
    assert run.committed_per_step == [4, 0, 1, 4]
    assert run.remasked_per_step == [0, 1, 0, 0] and run.revised_per_step == [0, 0, 0, 0]
    assert run.ids_at(2)[2] == MASK and run.ids_at(3)[2] == 22


def test_a_revision_is_counted_as_such(tmp_path: Path) -> None:
    path = tmp_path / "revise.trace"
    steps = [step(0, 0, {0: 10, 1: 11, 2: 12, 3: 13}), step(1, 0, {1: 21}), step(2, 1, {4: 14, 5: 15, 6: 16, 7: 17})]
    write(path, steps, End("complete", [10, 21, 12, 13, 14, 15, 16, 17]))
    run = RunIndex.of_trace(load_trace(path))
    assert run.revised_per_step == [0, 1, 0] and run.committed_per_step == [4, 0, 4]


def test_while_it_runs_the_step_count_is_what_has_arrived(tmp_path: Path) -> None:
    path = tmp_path / "cut.trace"
    write(path, STEPS[:2], None)
    trace = load_trace(path)
    run = RunIndex.of_trace(trace)
    assert run.total_steps == 2 and run.steps_known  # cut short: what there is, is all
    assert trace.warning == "cut short after step 2 (no end record)"
    assert run.boundaries() == [0]  # no promise of where later blocks start


def test_cached_forwards_and_the_approximate_mark(tmp_path: Path) -> None:
    path = tmp_path / "dual.trace"
    head = header(sampler="threshold", threshold=0.9, threshold_back=None, cache="dual")
    steps = [
        step(0, 0, {0: 10, 1: 11}),
        step(1, 0, {2: 12, 3: 13}, "cached"),
        step(2, 1, {4: 14, 5: 15, 6: 16, 7: 17}),
        step(3, 1, {}, "cached"),
    ]
    write(path, steps, End("complete", [10, 11, 12, 13, 14, 15, 16, 17]), head)
    trace = load_trace(path)
    assert trace.header.approximate and not trace.header.revises
    assert [s.forward for s in trace.steps] == ["full", "cached", "full", "cached"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([STEPS[0], replace(STEPS[3], index=1), replace(STEPS[1], index=2)], "block 0 after block 1"),
        ([replace(STEPS[0], forward="sideways")], "unknown forward 'sideways'"),
    ],
)
def test_steps_out_of_order_or_of_no_known_forward_are_damage(tmp_path: Path, steps, message) -> None:
    path = tmp_path / "bad.trace"
    write(path, steps, None)
    trace = load_trace(path)
    assert message in trace.warning and len(trace.steps) < len(steps)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sampler": None}, "'sampler' is missing"),
        ({"threshold": 1.5}, "'threshold' is 1.5, outside"),
        ({"steps": 0}, "'steps' is 0, outside"),
        ({"block_length": 3}, "multiple of block_length"),
    ],
)
def test_format_2_headers_are_checked(tmp_path: Path, params, message) -> None:
    with pytest.raises(ValueError, match=message):
        write(tmp_path / "h.trace", [], None, header(**params))
    assert not (tmp_path / "h.trace").exists()


def test_a_complete_end_needs_a_step(tmp_path: Path) -> None:
    path = tmp_path / "empty.trace"
    write(path, [], End("complete", FINAL))
    assert "complete after no step" in load_trace(path).warning
