"""Issue 11.20 (reader): what a trace can make us do is bounded by what is worth showing.

Lengths the sampler would refuse are refused; token texts are at most MAX_TOKEN_TEXT_CHARS
(the writer clips longer ones, so the two agree); and a record costs memory in proportion to its
bytes, whatever it holds: a record of an unknown type is skipped without being built, and a
value of the wrong type is refused before it is built. The hostile records run in a subprocess
under an address-space limit that the old reader (which built every object) ran out of.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest
from synthetic_traces import Vocabulary, header_for, records_of, write_records, write_trace

from llada_tui.core.records import MAX_TOKEN_TEXT_CHARS, TraceError
from llada_tui.core.trace_reader import load_trace
from llada_tui.core.trace_writer import TraceWriter

LONG_TEXT = "x" * (MAX_TOKEN_TEXT_CHARS + 1)


@pytest.mark.parametrize(
    "params",
    [
        {"gen_length": 32, "block_length": 64},  # a block longer than the answer
        {"gen_length": 32, "block_length": 12},  # blocks that do not tile the answer
        {"gen_length": 32, "block_length": 8, "steps": 6},  # steps that do not split into 4 blocks
        {"gen_length": 32, "block_length": 8, "steps": 64},  # more steps than tokens
        {"gen_length": 1 << 20, "block_length": 1, "steps": 1 << 20},  # beyond MAX_GEN_LENGTH
    ],
)
def test_lengths_the_sampler_would_refuse_are_refused(tmp_path: Path, params: dict) -> None:
    records = records_of(write_trace(tmp_path / "run.trace"))
    records[0]["params"].update(params)
    with pytest.raises(TraceError, match="header params"):
        load_trace(write_records(tmp_path / "bad.trace", records))


def test_a_token_text_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    records = records_of(write_trace(tmp_path / "run.trace"))
    header_texts = records[0]["texts"]["texts"]
    header_texts[0] = LONG_TEXT
    with pytest.raises(TraceError, match="longer than 1024 characters"):
        load_trace(write_records(tmp_path / "header.trace", records))
    header_texts[0] = "fine"
    records[3]["texts"] = {"ids": struct.pack("<i", 5000), "texts": [LONG_TEXT]}  # in step 2
    trace = load_trace(write_records(tmp_path / "step.trace", records))
    assert len(trace.steps) == 2 and "longer than 1024 characters" in trace.warning


def test_the_writer_clips_texts_to_what_the_reader_takes(tmp_path: Path) -> None:
    vocabulary = Vocabulary()
    header = replace(header_for(vocabulary, 8, 4, 8), token_texts={5: "y" * 5000})

    def token_text(token_id: int) -> str:
        return LONG_TEXT * 3 if token_id == 1002 else vocabulary.text_of(token_id)

    writer = TraceWriter(tmp_path / "run.trace", header, token_text)
    writer.close()
    texts = load_trace(tmp_path / "run.trace").header.token_texts
    assert len(texts[5]) == len(texts[1002]) == MAX_TOKEN_TEXT_CHARS
    assert texts[1002].endswith("…") and texts[1002].startswith("xxx")


# Each blob holds a 16 MiB run of empty maps (one byte each on disk; 64 bytes or more each as
# Python objects): built, they would need over a gigabyte, beyond the subprocess's 256 MiB.
EMPTY_MAPS = 1 << 24


def empty_maps() -> bytes:
    """A msgpack array of EMPTY_MAPS empty maps, without building them here either."""
    return b"\xdd" + EMPTY_MAPS.to_bytes(4, "big") + b"\x80" * EMPTY_MAPS


def packed(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def raw_map(fields: dict, key: str, raw_value: bytes) -> bytes:
    """A msgpack map of `fields` plus `key`, whose value is already packed."""
    assert len(fields) < 15
    return bytes([0x80 + len(fields) + 1]) + packed(fields)[1:] + packed(key) + raw_value


def hostile_cases(tmp_path: Path) -> dict[str, bytes]:
    records = records_of(write_trace(tmp_path / "run.trace"))
    header, step0, step1 = records[:3]
    start = packed(header) + packed(step0)
    without = {k: v for k, v in step1.items() if k != "texts"}
    texts_of_maps = raw_map({"ids": struct.pack("<i", 5000)}, "texts", empty_maps())
    return {
        "unknown record type": start + raw_map({"type": "junk"}, "data", empty_maps()) + packed(step1),
        "unknown key in a step": start + raw_map(step1, "from_the_future", empty_maps()),
        "maps where token texts belong": start + raw_map(without, "texts", texts_of_maps),
        "maps in the model": raw_map({k: v for k, v in header.items() if k != "model"}, "model", empty_maps()),
    }


EXPECTED = {
    "unknown record type": "2 cut short after step 2 of 16 (no end record)",
    "unknown key in a step": "2 cut short after step 2 of 16 (no end record)",
    "maps where token texts belong": "1 damaged after step 1 of 16: step 1 texts: token texts and their ids differ",
    "maps in the model": "refused: ",
}


LOADER = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))
    from llada_tui.core.records import TraceError
    from llada_tui.core.trace_reader import load_trace
    try:
        trace = load_trace(sys.argv[1])
        print(len(trace.steps), trace.warning)
    except TraceError as error:
        print("refused:", error)
    # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's, from fork)
    print("peak MiB", int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory as Linux reports it")
@pytest.mark.parametrize("case", EXPECTED)
def test_a_hostile_record_costs_memory_in_proportion_to_its_bytes(tmp_path: Path, case: str) -> None:
    path = tmp_path / "hostile.trace"
    path.write_bytes(hostile_cases(tmp_path)[case])
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result, peak = done.stdout.splitlines()
    assert result.startswith(EXPECTED[case])
    assert int(peak.split()[-1]) < 100  # MiB, for a 16 MiB record (built, it would take over 1 GiB)
