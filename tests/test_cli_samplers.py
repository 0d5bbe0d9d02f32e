"""`record --sampler ... [--cache ...]` then `export`: each new sampler reproduces its source step for
step on an official-layout checkpoint on the CPU in float32; the combinations a source cannot run
are refused before any model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import fast_dllm_source
import pytest
import torch
from wino_source import wino_source

from llada_tui.cli.main import main
from llada_tui.core.trace_reader import load_trace

PROMPT = "What is 12 times 4?"
LENGTHS = dict(steps=16, gen_length=16, block_length=8)
RUNS = {  # flags, the source restated, the sampler the header names
    "threshold": (["--sampler", "threshold", "--threshold", "0.3"], "threshold", "threshold"),
    "threshold-schedule": (["--sampler", "threshold"], "threshold", "threshold"),
    "prefix": (["--cache", "prefix"], "cached", "reference"),
    "dual-threshold": (["--sampler", "threshold", "--threshold", "0.3", "--cache", "dual"], "cached", "threshold"),
    "wino": (["--sampler", "wino"], "wino", "wino"),
    "wino-loose": (["--sampler", "wino", "--threshold", "0.2", "--threshold-back", "0.6"], "wino", "wino"),
}


def record_and_export(checkpoint: Path, folder: Path, flags: list[str], temperature: float) -> dict:
    trace, exported = folder / "run.trace", folder / "run.json"
    lengths = [f"--{key.replace('_', '-')}={value}" for key, value in LENGTHS.items()]
    arguments = ["--model", str(checkpoint), "-o", str(trace), "--temperature", str(temperature), "--seed", "4"]
    assert main(["record", PROMPT, *arguments, *lengths, "--topk", "2", *flags]) == 0
    assert main(["export", str(trace), "-o", str(exported)]) == 0
    return json.loads(exported.read_text())


def source_run(kind: str, flags: list[str], model, prompt: torch.Tensor, mask_id: int, temperature: float):
    """The source's own sampler, restated (tests/*_source.py): final ids and per forward (commits, re-masks)."""
    option = {flag: value for flag, value in zip(flags[::2], flags[1::2])}
    threshold = float(option["--threshold"]) if "--threshold" in option else None
    torch.manual_seed(4)
    if kind == "wino":
        kwargs = {"threshold": threshold if threshold is not None else 0.6}
        kwargs["threshold_back"] = float(option.get("--threshold-back", 0.9))
        out, nfe, changes = wino_source(model, prompt, 16, 8, temperature=temperature, mask_id=mask_id, **kwargs)
        return out[0, prompt.shape[1] :].tolist(), nfe, changes
    if kind == "cached":
        out, nfe, commits = fast_dllm_source.generate_cached(
            model,
            prompt,
            **LENGTHS,
            temperature=temperature,
            threshold=threshold,
            cache=option["--cache"],
            mask_id=mask_id,
        )
    else:
        out, nfe, commits = fast_dllm_source.generate(
            model, prompt, **LENGTHS, temperature=temperature, threshold=threshold, mask_id=mask_id
        )
    return out[0, prompt.shape[1] :].tolist(), nfe, [(row[0], []) for row in commits]


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("name", RUNS)
def test_record_and_export_reproduce_the_source(
    tmp_path, tiny_checkpoint, tiny_model, tiny_tokenizer, name, temperature
):
    flags, kind, sampler = RUNS[name]
    document = record_and_export(tiny_checkpoint, tmp_path, flags, temperature)
    prompt = torch.tensor([document["prompt"]["ids"]])
    final, nfe, changes = source_run(kind, flags, tiny_model, prompt, tiny_tokenizer.mask_id, temperature)
    mask_id = tiny_tokenizer.mask_id
    exported = [
        (
            sorted(c["pos"] for c in step["changes"] if c["id"] != mask_id),
            sorted(c["pos"] for c in step["changes"] if c["id"] == mask_id),
        )
        for step in document["steps"]
    ]
    assert exported == changes
    if name == "wino-loose":  # the loose thresholds make it change its mind on this checkpoint
        assert any(remasks for _, remasks in exported)
    assert document["final"]["ids"] == final and document["final"]["nfe"] == nfe == len(document["steps"])
    assert document["params"]["sampler"] == sampler
    forwards = {step["forward"] for step in document["steps"]}
    assert forwards == ({"full", "cached"} if kind == "cached" else {"full"})
    for step in document["steps"]:  # prev is the token before; unmasked are the commits
        commits = [c for c in step["changes"] if c["prev"] == mask_id and c["id"] != mask_id]
        assert step["unmasked"] == [{k: c[k] for k in ("pos", "id", "text", "confidence")} for c in commits]


def test_the_header_marks_cached_runs_approximate_and_info_says_so(tmp_path, tiny_checkpoint, capsys):
    record_and_export(tiny_checkpoint, tmp_path, ["--cache", "dual"], 0.0)
    trace = load_trace(tmp_path / "run.trace")
    assert trace.header.version == (2, 0) and trace.header.approximate and trace.header.total_steps is None
    capsys.readouterr()
    assert main(["info", str(tmp_path / "run.trace")]) == 0
    out = capsys.readouterr().out
    assert "sampler:  reference, dual KV cache (approximate" in out
    assert f"steps:    {len(trace.steps)}; " in out


def test_a_reference_run_is_still_format_1(tmp_path, tiny_checkpoint):
    record_and_export(tiny_checkpoint, tmp_path, [], 0.0)
    header = load_trace(tmp_path / "run.trace").header
    assert header.version == (1, 0) and "sampler" not in header.params


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sampler", "wino", "--cache", "prefix"], "wino runs without a KV cache"),
        (["--sampler", "threshold", "--cfg-scale", "1"], "--cfg-scale is not part of --sampler threshold"),
        (["--cache", "dual", "--logits-eos-inf"], "--logits-eos-inf is not part of --cache dual"),
        (["--sampler", "wino", "--remasking", "random"], "--remasking random is not part of --sampler wino"),
        (["--threshold", "0.9"], "--threshold needs --sampler threshold or wino"),
        (["--sampler", "threshold", "--threshold-back", "0.5"], "--threshold-back needs --sampler wino"),
        (["--sampler", "threshold", "--threshold", "1.5"], "threshold must be between 0 and 1, got 1.5"),
        (["--sampler", "wino", "--threshold-back", "nan"], "threshold_back must be between 0 and 1"),
    ],
)
@pytest.mark.parametrize("command", ["record", "live"])
def test_impossible_combinations_are_refused_before_loading(tmp_path, monkeypatch, capsys, command, flags, message):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("llada_tui.core.recording.load_engine", no_loading)
    output = ["-o", str(tmp_path / "x.trace")]
    assert main([command, PROMPT, *output, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.trace").exists()
