"""The run index against a naive replay: state after t steps, counts, blocks, texts, the live edge."""

from __future__ import annotations

from array import array
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic_traces import ARITHMETIC, MASK, Vocabulary, header_for, llada_steps, remasking_trace, write_trace

from llada_tui.core.records import Step
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.core.trace_writer import TraceWriter


def replay(index: RunIndex) -> list[list[tuple[int, int, float]]]:
    """[t][pos]: (token, step that set it, confidence), by applying the steps one by one."""
    state = [(MASK, -1, 0.0)] * index.gen_length
    states = [list(state)]
    for step in index.steps:
        for pos, token_id, conf in zip(step.positions, step.ids, step.confidences):
            state[pos] = (token_id, step.index, conf)
        states.append(list(state))
    return states


@pytest.mark.parametrize("make", [write_trace, remasking_trace], ids=["synthetic", "remasking"])
def test_the_state_after_t_steps_is_that_of_a_replay(tmp_path: Path, make) -> None:
    index = RunIndex.of_trace(load_trace(make(tmp_path / "run.trace")))
    block_length = index.header.block_length
    for t, state in enumerate(replay(index)):
        assert [index.cell_at(pos, t) for pos in range(index.gen_length)] == state
        assert index.ids_at(t) == [cell[0] for cell in state]
        assert index.masked_after[t] == sum(cell[0] == MASK for cell in state)
        block = index.block_at(t)
        in_block = state[block * block_length : (block + 1) * block_length]
        assert index.block_masked_after[t] == sum(cell[0] == MASK for cell in in_block)
    for pos in range(index.gen_length):
        changes = [
            (step.index, token_id, conf)
            for step in index.steps
            for p, token_id, conf in zip(step.positions, step.ids, step.confidences)
            if p == pos
        ]
        assert index.history(pos) == changes


def test_committed_counts_only_mask_to_token(tmp_path: Path) -> None:
    index = RunIndex.of_trace(load_trace(remasking_trace(tmp_path / "run.trace")))
    states = replay(index)
    for i, committed in enumerate(index.committed_per_step):
        before, after = states[i], states[i + 1]
        assert committed == sum(b[0] == MASK and a[0] != MASK for b, a in zip(before, after))


def test_blocks_from_the_steps(tmp_path: Path) -> None:
    index = RunIndex.of_trace(load_trace(write_trace(tmp_path / "run.trace")))  # 32 tokens, 4 blocks, 16 steps
    assert index.n_blocks == 4 and [index.block_range(b) for b in (0, 3)] == [(0, 8), (24, 32)]
    assert index.block_starts == index.boundaries() == [0, 4, 8, 12]


def uneven_steps() -> tuple[RunIndex, list[Step]]:
    """Blocks of 8 positions taking 1, 5, 2 and 8 steps (what the next samplers will do)."""
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(ARITHMETIC), 16, 8)
    blocks = [0] + [1] * 5 + [2] * 2 + [3] * 8
    steps = [replace(step, block=block) for step, block in zip(llada_steps(ARITHMETIC, vocabulary, 16, 8), blocks)]
    index = RunIndex()
    index.start(header)
    return index, steps


def test_block_boundaries_follow_the_records_not_a_fixed_count() -> None:
    index, steps = uneven_steps()
    index.add(steps)
    assert index.boundaries() == [0, 1, 6, 8]
    assert [index.block_at(t) for t in (0, 1, 2, 6, 7, 8, 9, 16)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_block_boundaries_at_the_live_edge_are_seen_then_promised() -> None:
    index, steps = uneven_steps()
    assert index.boundaries() == [0, 4, 8, 12]  # nothing seen: the steps shared evenly
    index.add(steps[:1])  # block 0 so far: a step; the rest shared by blocks 0 to 3 from step 0
    assert index.boundaries() == [0, 4, 8, 12]
    index.add(steps[1:2])  # block 1 began at step 1: 15 steps left for blocks 1, 2, 3
    assert index.boundaries() == [0, 1, 6, 11]
    index.add(steps[2:9])  # block 3 began at step 8: all the rest is block 3's
    assert index.boundaries() == [0, 1, 6, 8]
    for t in range(len(index.boundaries()) - 1):
        assert index.boundaries()[t] < index.boundaries()[t + 1]


def test_a_live_runs_header_is_never_changed_by_writing_steps(tmp_path: Path) -> None:
    vocabulary = Vocabulary()
    header = header_for(vocabulary, len(ARITHMETIC), 16, 8)
    writer = TraceWriter(tmp_path / "run.trace", header, vocabulary.text_of)
    written = writer.header
    texts_before, params_before = dict(written.token_texts), dict(written.params)
    index = RunIndex()
    index.start(written)
    for step in llada_steps(ARITHMETIC, vocabulary, 16, 8):
        as_written = writer.write_step(step)
        assert not step.texts and set(as_written.texts) <= set(vocabulary.texts)
        index.add([as_written])
    writer.close()
    assert dict(written.token_texts) == texts_before and dict(written.params) == params_before
    assert not header.token_texts  # the header given to the writer is not the one it wrote
    assert all(index.text(i) == vocabulary.text_of(i) for i in set(index.ids_at(index.length)))
    assert index.texts == RunIndex.of_trace(load_trace(tmp_path / "run.trace")).texts  # as a reader sees them
    with pytest.raises(TypeError):
        written.token_texts[5] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        written.params["steps"] = 1  # type: ignore[index]


def test_a_header_copies_what_it_is_given() -> None:
    texts = {1: "a"}
    header = replace(header_for(Vocabulary(), 8, 4, 8), token_texts=texts)
    texts[2] = "b"
    assert dict(header.token_texts) == {1: "a"}


def test_decode_and_text_use_every_text_seen(tmp_path: Path) -> None:
    index = RunIndex.of_trace(load_trace(write_trace(tmp_path / "run.trace")))
    final = index.ids_at(index.length)
    assert index.decode(final) == "".join(t for t in ARITHMETIC if not t.startswith("<"))
    assert index.text(123456) == "<123456>" and index.is_mask(MASK)


def test_a_step_changing_nothing_keeps_the_counts() -> None:
    index = RunIndex()
    index.start(header_for(Vocabulary(), 8, 4, 8))
    index.add([Step(0, 0, array("i"), array("i"), array("f"), 1.0)])
    assert index.masked_after == [8, 8] and index.committed_per_step == [0] and index.block_masked_after == [8, 8]
