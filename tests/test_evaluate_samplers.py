"""training/evaluate.py with the samplers beyond the reference: accuracy and forwards per answer.

On the shipped demo model (CPU, float32), a handful of prompts: each answer's reply and forwards
are what the sampler's core function gives that prompt alone, the reference's report and table
keep their shape, and combinations the CLI refuses are refused here too (exit 2, before loading).
"""

import json

import pytest
import torch

from llada_tui.core.cached import generate_cached
from llada_tui.core.checkpoint import resolve_checkpoint
from llada_tui.core.loading import load_model
from llada_tui.core.threshold import generate_threshold
from llada_tui.core.tokenizer import load_tokenizer
from llada_tui.core.wino import generate_wino
from training import demo_tasks
from training.evaluate import Sampler, Settings, evaluate, format_report, heldout_examples, main, sample_answers

SETTINGS = Settings(gen_length=64, steps=64, block_length=16)
RATE = demo_tasks.ARTICLE_PROMPTS["rate"]
# Prompts of one token length (46) whose answers take 7, 10 and 9 forwards at threshold 0.99999:
# sampled in one batch, every row would be charged the batch's forwards.
SAME_LENGTH = [RATE, RATE.replace("12", "11"), RATE.replace("12", "13").replace(" 6 ", " 5 ")]


HELD_OUT = {task: heldout_examples(task, 2) for task in demo_tasks.TASKS}


@pytest.fixture(scope="module")
def demo():
    folder = resolve_checkpoint(None)
    model, tokenizer = load_model(folder, device="cpu"), load_tokenizer(folder)
    prompts = [*SAME_LENGTH, *demo_tasks.ARTICLE_PROMPTS.values(), *(e.prompt for e in sum(HELD_OUT.values(), []))]
    encoded = dict(zip(prompts, tokenizer.apply_chat_template_batch(prompts), strict=True))  # one template process
    return model, tokenizer, encoded


def alone(demo, prompt: str, sampler: Sampler, settings: Settings = SETTINGS) -> tuple[str, int]:
    """The sampler's core function on one prompt: its decoded reply and its forwards."""
    model, tokenizer, encoded = demo
    ids = encoded[prompt]
    shared = dict(gen_length=settings.gen_length, block_length=settings.block_length, mask_id=tokenizer.mask_id)
    if sampler.name == "wino":
        out, forwards = generate_wino(
            model, torch.tensor([ids]), threshold=sampler.threshold, threshold_back=sampler.threshold_back, **shared
        )
    elif sampler.cache != "none":
        out, forwards = generate_cached(
            model, torch.tensor([ids]), settings.steps, threshold=sampler.threshold, cache=sampler.cache, **shared
        )
    else:
        steps = settings.steps
        out, forwards = generate_threshold(model, torch.tensor([ids]), steps, threshold=sampler.threshold, **shared)
    return tokenizer.decode(out[0, len(ids) :].tolist()).strip(), forwards


@pytest.mark.parametrize(
    "sampler",
    [
        Sampler("threshold", threshold=0.99999),
        Sampler("threshold", threshold=0.99999, cache="dual"),
        Sampler("wino").checked(SETTINGS),
    ],
    ids=["threshold", "threshold-dual", "wino"],
)
def test_a_sampler_that_decides_its_steps_counts_each_answer_s_own_forwards(demo, sampler):
    model, tokenizer, _ = demo
    prompts = [*SAME_LENGTH, demo_tasks.ARTICLE_PROMPTS["letters"]]
    answers = sample_answers(model, tokenizer, prompts, SETTINGS, sampler)
    assert [(a.reply, a.forwards) for a in answers] == [alone(demo, p, sampler) for p in prompts]
    assert all(4 <= a.forwards < 64 for a in answers)  # at least one per block, fewer than the reference's steps


def test_same_length_prompts_take_different_forwards_so_batching_would_show(demo):
    sampler = Sampler("threshold", threshold=0.99999)
    forwards = [alone(demo, p, sampler)[1] for p in SAME_LENGTH]
    assert len(set(forwards)) == len(forwards), forwards


def test_the_reference_s_cache_keeps_its_step_counts_in_a_batch(demo):
    model, tokenizer, _ = demo
    few_steps = Settings(gen_length=64, steps=8, block_length=16)
    for cache in ("prefix", "dual"):
        sampler = Sampler(cache=cache)
        answers = sample_answers(model, tokenizer, SAME_LENGTH, few_steps, sampler)
        assert [a.forwards for a in answers] == [8] * 3  # the schedule's 2 steps in each of 4 blocks
        assert answers[0].reply == alone(demo, SAME_LENGTH[0], sampler, few_steps)[0]


def test_the_report_gives_accuracy_and_forwards_per_task_and_overall(demo):
    model, tokenizer, _ = demo
    sampler = Sampler("threshold", threshold=0.99999)
    report = evaluate(model, tokenizer, 2, SETTINGS, sampler=sampler)
    counts = {task: [alone(demo, e.prompt, sampler)[1] for e in HELD_OUT[task]] for task in demo_tasks.TASKS}
    for task, result in report["tasks"].items():
        assert result["forwards_per_answer"] == sum(counts[task]) / 2
    every = [f for task in demo_tasks.TASKS for f in counts[task]]
    assert report["overall"]["forwards_per_answer"] == sum(every) / len(every)
    assert report["overall"]["n"] == 2 * len(demo_tasks.TASKS)
    accuracies = [result["accuracy"] for result in report["tasks"].values()]
    assert report["overall"]["accuracy"] == pytest.approx(sum(accuracies) / len(accuracies))
    assert report["sampler"] == {"name": "threshold", "threshold": 0.99999, "threshold_back": None, "cache": "none"}
    table = format_report(report, "cpu").splitlines()
    assert table[0].endswith("· sampler threshold, threshold 0.99999")
    assert table[1] == "| task | held-out accuracy | n | target | forwards per answer |"
    assert table[7].startswith("| overall | ")


def test_the_reference_s_table_is_unchanged_and_its_forwards_are_its_steps(demo):
    model, tokenizer, _ = demo
    report = evaluate(model, tokenizer, 1, Settings(gen_length=64, steps=16, block_length=16))
    assert {task: r["forwards_per_answer"] for task, r in report["tasks"].items()} == dict.fromkeys(
        demo_tasks.TASKS, 16
    )
    table = format_report(report, "cpu").splitlines()
    assert table[0].endswith(" · cpu · gen_length 64, steps 16, block_length 16, greedy, low_confidence")
    assert table[1:3] == ["| task | held-out accuracy | n | target |", "| --- | --- | --- | --- |"]
    assert table[3].startswith("| rate | ") and table[3].endswith(" | 1 | ≥ 90% |")
    assert not any(line.startswith("| overall") for line in table)


@pytest.mark.parametrize(
    "flags",
    [
        ["--sampler", "wino", "--cache", "prefix"],
        ["--threshold", "0.5"],
        ["--sampler", "threshold", "--threshold-back", "0.5"],
        ["--sampler", "threshold", "--threshold", "1.5"],
    ],
)
def test_combinations_the_cli_refuses_exit_2_before_loading(flags, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--n", "1", "--checkpoint", str(tmp_path / "absent"), *flags])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_json_report_holds_the_command(tmp_path, capsys):
    path = tmp_path / "eval.json"
    main(["--n", "1", "--sampler", "wino", "--json", str(path)])
    report = json.loads(path.read_text())
    assert report["command"] == f"python -m training.evaluate --n 1 --sampler wino --json {path}"
    assert report["sampler"] == {"name": "wino", "threshold": 0.6, "threshold_back": 0.9, "cache": "none"}
    assert set(report["tasks"]) == set(demo_tasks.TASKS)
    assert "forwards per answer" in capsys.readouterr().out
