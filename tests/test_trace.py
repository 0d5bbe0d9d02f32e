"""Trace format v1: round trip, follow-style reading, damaged and hostile files, the index."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import msgpack
import pytest

from llada_tui.core.records import Candidates, End, Header, Step, TraceError
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_codec import encode_end, encode_header, encode_step
from llada_tui.core.trace_reader import TraceReader, load_trace
from llada_tui.core.trace_writer import TraceWriter

MASK = 99


def make_header(gen_length: int = 8, steps: int = 4, block_length: int = 4) -> Header:
    return Header(
        prompt_text="What is 2 + 2?",
        prompt_ids=[1, 5, 6, 7],
        model={"name": "tiny", "dtype": "float32", "device": "cpu"},
        params={
            "steps": steps,
            "gen_length": gen_length,
            "block_length": block_length,
            "temperature": 0.0,
            "cfg_scale": 0.0,
            "remasking": "low_confidence",
            "mask_id": MASK,
            "seed": 0,
        },
        special_ids=[1],
    )


def token_text(token_id: int) -> str:
    return {MASK: "<mask>", 1: "<bos>"}.get(token_id, f"t{token_id} ")


def make_step(index: int, block: int, positions: list[int], ids: list[int], k: int = 2) -> Step:
    masked = [p for p in range(8) if p >= min(positions)]
    return Step(
        index=index,
        block=block,
        positions=array("i", positions),
        ids=array("i", ids),
        confidences=array("f", [0.5 + 0.1 * i for i in range(len(positions))]),
        wall_ms=1.5,
        candidates=Candidates(
            positions=array("i", masked),
            ids=array("i", [10 + p for p in masked for _ in range(k)]),
            probs=array("f", [0.75, 0.25] * len(masked)),
            k=k,
        ),
    )


def write_trace(path: Path, steps: list[Step], end: End | None) -> None:
    writer = TraceWriter(path, make_header(), token_text)
    for step in steps:
        writer.write_step(step)
    writer.close(end)


STEPS = [
    make_step(0, 0, [2, 0], [12, 10]),
    make_step(1, 0, [1, 3], [11, 13]),
    make_step(2, 1, [7, 4], [17, 14]),
    make_step(3, 1, [5, 6], [15, 16]),
]
FINAL = [10, 11, 12, 13, 14, 15, 16, 17]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    write_trace(path, STEPS, End("complete", FINAL, total_ms=6.0, final_text="t10 t11"))
    trace = load_trace(path)
    assert trace.complete and trace.warning is None
    assert trace.header.prompt_ids == (1, 5, 6, 7)
    assert trace.header.params["gen_length"] == 8
    assert trace.header.special_ids == (1,)
    assert [s.index for s in trace.steps] == [0, 1, 2, 3]
    assert list(trace.steps[2].positions) == [7, 4] and list(trace.steps[2].ids) == [17, 14]
    assert trace.steps[0].confidences[1] == pytest.approx(0.6)
    assert trace.steps[0].candidates.row(0) == [(10, 0.75), (10, 0.25)]
    assert trace.end.final_ids == FINAL and trace.end.final_text == "t10 t11"
    # every id that appears has its text, written once, so replay needs no tokenizer
    run = RunIndex.of_trace(trace)
    assert trace.header.token_texts[MASK] == "<mask>" and 17 not in trace.header.token_texts
    assert [step.texts.get(17) for step in trace.steps].count("t17 ") == 1 and run.text(17) == "t17 "
    assert run.decode([1, 10, MASK, 11]) == "t10 t11 "


def test_texts_written_once(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    write_trace(path, STEPS, End("complete", FINAL))
    unpacker = msgpack.Unpacker(open(path, "rb"), raw=False)
    records = list(unpacker)
    seen: list[int] = []
    for record in records:
        if "texts" in record:
            ids = array("i")
            ids.frombytes(record["texts"]["ids"])
            seen.extend(ids)
    assert len(seen) == len(set(seen))


def test_cut_short_keeps_complete_steps(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    write_trace(path, STEPS, End("complete", FINAL))
    data = path.read_bytes()
    # find where step 2 starts and cut in the middle of it
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    offsets = []
    for _ in unpacker:
        offsets.append(unpacker.tell())
    cut = (offsets[2] + offsets[3]) // 2  # inside the record of step 2
    path.write_bytes(data[:cut])
    trace = load_trace(path)
    assert [s.index for s in trace.steps] == [0, 1]
    assert trace.end is None and not trace.complete
    assert trace.warning == "cut short after step 2 of 4 (no end record)"


def test_interrupted_end_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    write_trace(path, STEPS[:2], End("interrupted", [], message="cancelled by the user"))
    trace = load_trace(path)
    assert len(trace.steps) == 2
    assert trace.warning == "interrupted after step 2 of 4: cancelled by the user"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"hello, I am a text file\n", "not a llada-tui trace"),
        (msgpack.packb({"format": "something-else", "type": "header"}), "not a llada-tui trace"),
        (msgpack.packb([1, 2, 3]), "not a llada-tui trace"),
        (msgpack.packb(msgpack.ExtType(1, b"\x00")), "extension type"),
        (bytes(random.Random(1).getrandbits(8) for _ in range(4096)), "not a llada-tui trace"),
    ],
)
def test_garbage_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_bytes(content)
    with pytest.raises(TraceError) as error:
        load_trace(path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "nope.trace")
    with pytest.raises(TraceError, match="is a directory"):
        load_trace(tmp_path)


def header_record(**changes: object) -> dict:
    record = encode_header(make_header())
    record.update(changes)
    return record


def test_newer_major_version_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.trace"
    path.write_bytes(msgpack.packb(header_record(version=[3, 0]), use_bin_type=True))
    with pytest.raises(TraceError, match="version 3.0 is newer"):
        load_trace(path)


def test_newer_minor_version_and_unknown_records_are_read(tmp_path: Path) -> None:
    path = tmp_path / "minor.trace"
    records = [
        header_record(version=[1, 7], extra_field={"a": 1}),
        {"type": "annotation", "text": "from the future"},
        *(encode_step(step) for step in STEPS),
        encode_end(End("complete", FINAL)),
    ]
    path.write_bytes(b"".join(msgpack.packb(r, use_bin_type=True) for r in records))
    trace = load_trace(path)
    assert len(trace.steps) == 4 and trace.complete


@pytest.mark.parametrize(
    "bad_step, reason",
    [
        ({"pos": b"\x00\x00\x00"}, "packed 4-byte"),
        ({"pos": array("i", [0, 99]).tobytes(), "ids": array("i", [1, 2]).tobytes()}, "outside"),
        ({"ids": array("i", [1]).tobytes()}, "differ in length"),
        ({"step": 5}, "out of order"),
        ({"block": "zero"}, "wrong type"),
        ({"topk": {"k": 3, "pos": b"", "ids": array("i", [1]).tobytes(), "probs": b""}}, "top-k"),
    ],
)
def test_malformed_step_keeps_what_came_before(tmp_path: Path, bad_step: dict, reason: str) -> None:
    good = encode_step(STEPS[0])
    bad = {**encode_step(STEPS[1]), **bad_step}
    path = tmp_path / "damaged.trace"
    path.write_bytes(b"".join(msgpack.packb(r, use_bin_type=True) for r in [header_record(), good, bad]))
    trace = load_trace(path)
    assert len(trace.steps) == 1
    assert trace.warning.startswith("damaged after step 1 of 4") and reason in trace.warning


def test_oversized_record_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llada_tui.core.msgpack_fields as trace_module

    monkeypatch.setattr(trace_module, "MAX_STR_BYTES", 1000)
    path = tmp_path / "huge.trace"
    path.write_bytes(msgpack.packb(header_record(created="x" * 5000), use_bin_type=True))
    with pytest.raises(TraceError, match="not a llada-tui trace"):
        load_trace(path)


def test_reader_follows_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "growing.trace"
    writer = TraceWriter(path, make_header(), token_text)
    reader = TraceReader(path)
    first = reader.poll()
    assert isinstance(first[0], Header) and len(first) == 1
    writer.write_step(STEPS[0])
    writer.write_step(STEPS[1])
    assert [r.index for r in reader.poll()] == [0, 1]
    assert reader.poll() == []
    # half a record: nothing yet, then the rest arrives
    blob = msgpack.packb(encode_step(STEPS[2]), use_bin_type=True)
    with open(path, "ab") as f:
        f.write(blob[:10])
        f.flush()
        assert reader.poll() == [] and reader.pending_bytes
        f.write(blob[10:])
    assert [r.index for r in reader.poll()] == [2]
    writer.close(End("complete", FINAL))
    reader.close()


def test_index_lookups_match_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "run.trace"
    write_trace(path, STEPS, End("complete", FINAL))
    trace = load_trace(path)
    index = RunIndex.of_trace(trace)
    replay = [MASK] * 8
    for t in range(len(trace.steps) + 1):
        assert index.ids_at(t) == replay
        assert index.masked_after[t] == replay.count(MASK)
        if t < len(trace.steps):
            for pos, token_id in zip(trace.steps[t].positions, trace.steps[t].ids):
                replay[pos] = token_id
    assert index.cell_at(4, 3)[:2] == (14, 2)
    assert index.cell_at(4, 2) == (MASK, -1, 0.0)
    assert index.committed_per_step == [2, 2, 2, 2]


def test_index_handles_changes_and_remasking() -> None:
    index = RunIndex()
    index.start(make_header())
    index.add([make_step(0, 0, [0, 1], [10, 11])])
    index.add([make_step(1, 0, [0, 2], [20, 12])])  # position 0 changes its mind
    index.add([make_step(2, 0, [1, 3], [MASK, 13])])  # position 1 is masked again
    assert [index.token_at(0, t) for t in range(4)] == [MASK, 10, 20, 20]
    assert [index.token_at(1, t) for t in range(4)] == [MASK, 11, 11, MASK]
    assert index.masked_after == [8, 6, 5, 5]
    assert index.committed_per_step == [2, 1, 1]
    assert [h[:2] for h in index.history(0)] == [(0, 10), (1, 20)]
