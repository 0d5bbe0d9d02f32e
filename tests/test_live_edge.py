"""The run as it grows (live and follow): block boundaries at the live edge."""

from __future__ import annotations

from synthetic_traces import ARITHMETIC, Vocabulary, header_for, llada_steps

from llada_tui.core.run_index import RunIndex

STEPS, BLOCK = 16, 8  # 32 tokens in 4 blocks of 8: 4 steps per block


def growing_recording() -> tuple[RunIndex, list]:
    vocabulary = Vocabulary()
    recording = RunIndex()
    recording.start(header_for(vocabulary, len(ARITHMETIC), STEPS, BLOCK))
    return recording, list(llada_steps(ARITHMETIC, vocabulary, STEPS, BLOCK))


def test_boundaries_are_the_same_at_every_length_of_a_growing_run() -> None:
    recording, steps = growing_recording()
    assert recording.boundaries() == [0, 4, 8, 12]  # before any step: all promised
    for step in steps:
        recording.add([step])
        # Exactly at a block's end (length 4, 8, 12) the next block's start is not seen yet
        # but must still be promised, or every later label is one block off.
        assert recording.boundaries() == [0, 4, 8, 12], f"after {recording.length} steps"
