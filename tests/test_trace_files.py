"""Issue 11.22: one run per trace file. TraceWriter creates its file exclusively, or replaces it
whole after the header is written (overwrite=True); a reader following a file notices when
another run replaces, truncates or rewrites it, and keeps the steps it had."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic_traces import HOSTILE, Vocabulary, header_for, llada_steps, write_trace

from llada_tui.core.records import Header
from llada_tui.core.trace_reader import TraceReader, describe_ending, load_trace
from llada_tui.core.trace_writer import TraceWriter

ANSWER = ["a", "b", "c", "d", "e", "f", "g", "h"]


def new_run(path: Path, overwrite: bool = False, steps: int = 0) -> TraceWriter:
    """Another run (a different prompt, 8 tokens in 4 steps) writing to path."""
    vocabulary = Vocabulary()
    header = header_for(vocabulary, 8, 4, 8, prompt="Another run")
    writer = TraceWriter(path, header, vocabulary.text_of, overwrite=overwrite)
    for step in list(llada_steps(ANSWER, vocabulary, 4, 8))[:steps]:
        writer.write_step(step)
    return writer


def following(path: Path, steps: int) -> TraceReader:
    reader = TraceReader(path)
    records = reader.poll()
    assert isinstance(records[0], Header) and len(records) == steps + 1
    return reader


def test_a_second_writer_to_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    first = new_run(path, steps=2)
    with pytest.raises(FileExistsError):
        new_run(path)
    first.close()
    assert len(load_trace(path).steps) == 2  # the first run's file is intact
    finished = write_trace(tmp_path / "done.trace")
    before = finished.read_bytes()
    with pytest.raises(FileExistsError):
        new_run(finished)
    assert finished.read_bytes() == before


def test_overwrite_replaces_the_file_whole_once_the_header_is_written(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "run.trace", stop_after=5, ending="none")
    reader = following(path, 5)
    writer = new_run(path, overwrite=True)
    replaced = load_trace(path)  # the path holds the new run from its first byte on
    assert replaced.header.prompt_text == "Another run" and replaced.steps == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trace"]  # no temporary file left
    writer.close()
    assert reader.poll() == []
    assert describe_ending(reader) == "the file was replaced by another run after step 5 of 16"
    assert reader.steps_read == 5 and reader.header.prompt_text == "What is 48 + 24?"
    reader.close()


def test_a_failed_overwrite_leaves_everything_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "in-the-way"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        new_run(folder, overwrite=True)  # os.replace cannot put a file over a folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-the-way"]
    assert [p.name for p in folder.iterdir()] == ["inside"]


@pytest.mark.parametrize("size", [0, 100])
def test_a_truncated_file_is_reported(tmp_path: Path, size: int) -> None:
    path = write_trace(tmp_path / "run.trace", stop_after=5, ending="none")
    reader = following(path, 5)
    os.truncate(path, size)
    assert reader.poll() == []
    assert describe_ending(reader) == "the file was truncated after step 5 of 16"
    reader.close()


def test_a_file_rewritten_in_place_is_reported(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "run.trace", stop_after=5, ending="none")
    reader = following(path, 5)
    other = write_trace(tmp_path / "other.trace", HOSTILE * 4, steps=8, block_length=len(HOSTILE) * 4)
    assert other.stat().st_size > path.stat().st_size
    path.write_bytes(other.read_bytes())  # as `cp other.trace run.trace` does: same file, new content
    assert reader.poll() == []
    assert describe_ending(reader) == "the file was replaced by another run after step 5 of 16"
    assert reader.steps_read == 5
    reader.close()


def test_a_file_that_only_grows_is_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    writer = new_run(path, steps=1)
    reader = following(path, 1)
    for _ in range(3):
        writer.write_step(list(llada_steps(ANSWER, Vocabulary(), 4, 8))[reader.steps_read])
        assert len(reader.poll()) == 1 and reader.corrupt is None
    reader.close()
    writer.close()


def test_a_follower_of_an_empty_file_reads_the_run_that_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    path.write_bytes(b"")  # created before the writer had loaded its model
    reader = TraceReader(path)
    assert reader.poll() == []
    writer = new_run(path, overwrite=True, steps=2)
    records = reader.poll()
    assert isinstance(records[0], Header) and records[0].prompt_text == "Another run" and len(records) == 3
    assert reader.corrupt is None
    writer.close()
    reader.close()


@pytest.mark.parametrize("change", [{"gen_length": 10**7}, {"seed": 1 << 64}, {"temperature": float("nan")}])
def test_the_writer_refuses_a_header_its_reader_would_refuse(tmp_path: Path, change: dict) -> None:
    vocabulary = Vocabulary()
    header = header_for(vocabulary, 8, 4, 8)
    header = replace(header, params={**header.params, **change})
    with pytest.raises(ValueError, match="header"):
        TraceWriter(tmp_path / "run.trace", header, vocabulary.text_of)
    assert list(tmp_path.iterdir()) == []  # no empty file left to block the next run
