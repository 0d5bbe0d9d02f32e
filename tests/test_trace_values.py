"""Issue 11.18: the reader accepts only values it can show and export as JSON.

The header's free-form `model` and `params` must be JSON-like (no bin strings, no extension
types, not deeply nested, small); no float anywhere may be NaN or infinite; ints stay in the
ranges the sampler runs with. A header that breaks this is refused in one line; a step or an
end that does ends the trace there, the steps before kept.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import msgpack
import pytest
from synthetic_traces import records_of, write_records, write_trace

from llada_tui.cli.main import main
from llada_tui.core.msgpack_fields import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from llada_tui.core.records import TraceError
from llada_tui.core.trace_reader import load_trace

NAN, INF = float("nan"), float("inf")
TIMESTAMP = msgpack.Timestamp(1_700_000_000, 0)  # msgpack's own extension type -1


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def i32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def damaged(tmp_path: Path, change) -> Path:  # noqa: ANN001
    """A valid 16-step trace whose records `change(records)` edits in place."""
    path = write_trace(tmp_path / "run.trace")
    records = records_of(path)
    change(records)
    return write_records(tmp_path / "damaged.trace", records)


def refuses_json_nan(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def assert_cli_says_one_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """info and export end in one line and exit 1 (no traceback), or succeed with strict JSON."""
    for command in ("info", "export"):
        code = main([command, str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 1) and "Traceback" not in err
        if code == 1:
            assert err.count("\n") == 1 and not out
        elif command == "export":
            json.loads(out, parse_constant=refuses_json_nan)


HEADER_CHANGES = {
    "bin in model": lambda h: h["model"].update(name=b"\x00binary"),
    "bin in params": lambda h: h["params"].update(remasking=b"low_confidence"),
    "bin deep in model": lambda h: h["model"].update(config={"layers": [1, b"\xff"]}),
    "timestamp in model": lambda h: h["model"].update(created=TIMESTAMP),
    "timestamp in params": lambda h: h["params"].update(seed=TIMESTAMP),
    "other ext in params": lambda h: h["params"].update(extra=msgpack.ExtType(5, b"x")),
    "non-string key in model": lambda h: h["model"].update({7: "seven"}),
    "deep model": lambda h: h["model"].update(config=nested(MAX_METADATA_DEPTH + 1)),
    "huge model": lambda h: h["model"].update(name="x" * MAX_METADATA_BYTES),
    "nan temperature": lambda h: h["params"].update(temperature=NAN),
    "inf cfg_scale": lambda h: h["params"].update(cfg_scale=INF),
    "negative temperature": lambda h: h["params"].update(temperature=-1.0),
    "nan anywhere in params": lambda h: h["params"].update(extra=[1.0, NAN]),
    "inf in model config": lambda h: h["model"].update(config={"rope_theta": -INF}),
    "negative mask_id": lambda h: h["params"].update(mask_id=-1),
    "mask_id beyond int32": lambda h: h["params"].update(mask_id=1 << 31),
    "negative eos_id": lambda h: h["params"].update(eos_id=-5),
    "eot_id beyond int32": lambda h: h["params"].update(eot_id=1 << 40),
    "huge topk": lambda h: h["params"].update(topk=10**6),
    "negative topk": lambda h: h["params"].update(topk=-1),
    "boolean steps": lambda h: h["params"].update(steps=True),
    "string seed": lambda h: h["params"].update(seed="0"),
    "float gen_length": lambda h: h["params"].update(gen_length=32.0),
    "negative prompt id": lambda h: h["prompt"].update(ids=i32(1, -3)),
    "timestamp created": lambda h: h.update(created=TIMESTAMP),
}


@pytest.mark.parametrize("change", HEADER_CHANGES.values(), ids=HEADER_CHANGES.keys())
def test_a_header_with_values_json_cannot_hold_is_refused(
    tmp_path: Path,
    change,
    capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    path = damaged(tmp_path, lambda records: change(records[0]))
    with pytest.raises(TraceError) as error:
        load_trace(path)
    assert "\n" not in str(error.value)
    assert_cli_says_one_line(path, capsys)


def test_the_seed_may_be_any_64_bit_value(tmp_path: Path) -> None:
    for n, seed in enumerate((-(1 << 63), (1 << 64) - 1)):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = damaged(folder, lambda records, seed=seed: records[0]["params"].update(seed=seed))
        assert load_trace(path).header.params["seed"] == seed


def step_change(key: str, value: object, in_topk: bool = False):  # noqa: ANN201
    def change(records: list[dict]) -> None:
        step = records[3]  # step 2
        (step["topk"] if in_topk else step)[key] = value

    return change


def topk_probs_with(value: float):  # noqa: ANN201
    def change(records: list[dict]) -> None:
        topk = records[3]["topk"]
        probs = list(struct.unpack(f"<{len(topk['probs']) // 4}f", topk["probs"]))
        probs[1] = value
        topk["probs"] = f32(*probs)

    return change


def confidences_with(value: float):  # noqa: ANN201
    def change(records: list[dict]) -> None:
        step = records[3]
        conf = list(struct.unpack(f"<{len(step['conf']) // 4}f", step["conf"]))
        conf[0] = value
        step["conf"] = f32(*conf)

    return change


def ids_with(value: int, in_topk: bool = False):  # noqa: ANN201
    def change(records: list[dict]) -> None:
        holder = records[3]["topk"] if in_topk else records[3]
        ids = list(struct.unpack(f"<{len(holder['ids']) // 4}i", holder["ids"]))
        ids[0] = value
        holder["ids"] = i32(*ids)

    return change


STEP_CHANGES = {
    "nan confidence": confidences_with(NAN),
    "inf confidence": confidences_with(INF),
    "confidence above 1": confidences_with(1.5),
    "negative confidence": confidences_with(-0.25),
    "nan candidate probability": topk_probs_with(NAN),
    "-inf candidate probability": topk_probs_with(-INF),
    "nan wall_ms": step_change("wall_ms", NAN),
    "inf wall_ms": step_change("wall_ms", INF),
    "negative wall_ms": step_change("wall_ms", -1.0),
    "timestamp wall_ms": step_change("wall_ms", TIMESTAMP),
    "timestamp step index": step_change("step", TIMESTAMP),
    "ext in positions": step_change("pos", msgpack.ExtType(1, b"\x00\x00\x00\x00")),
    "negative token id": ids_with(-7),
    "negative candidate id": ids_with(-1, in_topk=True),
    "huge k": step_change("k", 10**6, in_topk=True),
    "block beyond the last": step_change("block", 99),
    "negative block": step_change("block", -1),
}


@pytest.mark.parametrize("change", STEP_CHANGES.values(), ids=STEP_CHANGES.keys())
def test_a_step_with_a_bad_value_ends_the_trace_before_it(
    tmp_path: Path,
    change,
    capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    trace = load_trace(damaged(tmp_path, change))
    assert [step.index for step in trace.steps] == [0, 1]
    assert trace.warning.startswith("damaged after step 2 of 16") and not trace.complete
    assert "\n" not in trace.warning
    assert_cli_says_one_line(tmp_path / "damaged.trace", capsys)


END_CHANGES = {
    "nan total_ms": ("total_ms", NAN),
    "inf total_ms": ("total_ms", INF),
    "timestamp total_ms": ("total_ms", TIMESTAMP),
    "bin status": ("status", b"complete"),
    "negative final id": ("final_ids", i32(-1) * 32),
}


@pytest.mark.parametrize("key, value", END_CHANGES.values(), ids=END_CHANGES.keys())
def test_an_end_with_a_bad_value_is_not_an_end(
    tmp_path: Path, key: str, value: object, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = load_trace(damaged(tmp_path, lambda records: records[-1].update({key: value})))
    assert len(trace.steps) == 16 and trace.end is None and not trace.complete
    assert trace.warning.startswith("damaged after step 16 of 16: end")
    assert_cli_says_one_line(tmp_path / "damaged.trace", capsys)


def test_every_float_a_valid_trace_exports_is_finite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_trace(tmp_path / "run.trace")
    assert main(["export", str(path), "--candidates"]) == 0
    document = json.loads(capsys.readouterr().out, parse_constant=refuses_json_nan)
    confidences = [u["confidence"] for step in document["steps"] for u in step["unmasked"]]
    assert confidences and all(math.isfinite(c) and 0 <= c <= 1 for c in confidences)
