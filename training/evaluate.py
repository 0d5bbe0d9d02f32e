"""Held-out accuracy of a demo checkpoint, sampled through llada_tui.core.generate.

    python -m training.evaluate --n 200                 # the shipped model, its default settings, CPU
    python -m training.evaluate --n 200 --block-length 32 --checkpoint PATH --device cuda
    python -m training.evaluate --n 200 --sampler threshold --threshold 0.9 --cache dual

Prompts come from demo_tasks' held-out split (names and words never used in training) with
their own seed. A reply counts as correct when what it states after "The answer is" equals the
expected answer exactly; a fallback counts when the reply is the fallback sentence. The reference
sampler (with or without a cache) samples prompts of equal token length together (no padding, so
each row is what a single run gives); its schedule fixes every row's forwards. The threshold and
WINO samplers decide their own steps and loop until every row's block is done, so they sample
one prompt at a time, each answer's forwards counted as their sources count them.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import torch

from llada_tui.core.checkpoint import DEMO_DIR
from llada_tui.core.llada import LLaDAModel
from llada_tui.core.options import WINO_THRESHOLDS, OptionError, SamplingOptions, check_options, fixed_steps
from llada_tui.core.tokenizer import LLaDATokenizer
from training import demo_tasks

EVAL_SEED = 20_250_000  # far from the training chunks' seeds
TARGETS = {"rate": 0.90, "letters": 0.95, "choice": 0.98}


@dataclass(frozen=True)
class Settings:
    gen_length: int = 64
    steps: int = 64
    block_length: int = 16

    @classmethod
    def shipped(cls, folder: Path = DEMO_DIR) -> Settings:
        """The demo model's defaults from sampling.json (what the CLI uses with no flags)."""
        file = folder / "sampling.json"
        return cls(**json.loads(file.read_text())) if file.is_file() else cls()


@dataclass(frozen=True)
class Sampler:
    """The decoding strategy, as `llada-tui record` names it (--sampler, --threshold, --threshold-back, --cache)."""

    name: str = "reference"
    threshold: float | None = None
    threshold_back: float | None = None
    cache: str = "none"

    def checked(self, settings: Settings) -> Sampler:
        """This sampler, refused (OptionError) where the CLI refuses it; WINO's thresholds filled in."""
        check_options(
            SamplingOptions(
                steps=settings.steps,
                gen_length=settings.gen_length,
                block_length=settings.block_length,
                sampler=self.name,
                threshold=self.threshold,
                threshold_back=self.threshold_back,
                cache=self.cache,
            )
        )
        if self.name != "wino":
            return self
        threshold, threshold_back = WINO_THRESHOLDS
        return replace(
            self,
            threshold=threshold if self.threshold is None else self.threshold,
            threshold_back=threshold_back if self.threshold_back is None else self.threshold_back,
        )

    @property
    def batched(self) -> bool:
        """Whether prompts may share a batch: the reference's schedule gives every row the same forwards."""
        return self.name == "reference"

    @property
    def fixed_steps(self) -> bool:
        """LLaDA's reference sampler without a cache: forwards per answer = steps, by construction."""
        return fixed_steps(self.name, self.cache)

    def describe(self) -> str:
        parts = [f"sampler {self.name}"]
        if self.threshold is not None:
            parts.append(f"threshold {self.threshold:g}")
        if self.threshold_back is not None:
            parts.append(f"threshold_back {self.threshold_back:g}")
        if self.cache != "none":
            parts.append(f"{self.cache} cache")
        return ", ".join(parts)


@dataclass(frozen=True)
class Answer:
    reply: str
    forwards: int  # the model forwards this answer took


def heldout_examples(task: str, n: int, seed: int = EVAL_SEED) -> list[demo_tasks.Example]:
    rng = random.Random(seed + demo_tasks.TASKS.index(task))
    return [demo_tasks.make_example(rng, "heldout", task) for _ in range(n)]


def sample_replies(
    model: LLaDAModel, tokenizer: LLaDATokenizer, prompts: list[str], settings: Settings, batch_size: int = 256
) -> list[str]:
    """The decoded reply to each prompt (greedy, the reference sampler's low-confidence remasking)."""
    return [answer.reply for answer in sample_answers(model, tokenizer, prompts, settings, batch_size=batch_size)]


def sample_answers(
    model: LLaDAModel,
    tokenizer: LLaDATokenizer,
    prompts: list[str],
    settings: Settings,
    sampler: Sampler = Sampler(),
    batch_size: int = 256,
) -> list[Answer]:
    """Each prompt's decoded reply (greedy) and the forwards it took, with `sampler`."""
    device = next(model.parameters()).device
    encoded = tokenizer.apply_chat_template_batch(prompts)  # one sandboxed render for all
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(encoded):
        by_length[len(ids)].append(i)
    answers: list[Answer | None] = [None] * len(prompts)
    size = batch_size if sampler.batched else 1
    for length, indices in by_length.items():
        for start in range(0, len(indices), size):
            batch = indices[start : start + size]
            prompt = torch.tensor([encoded[i] for i in batch], device=device)
            out, forwards = run_sampler(model, tokenizer, prompt, settings, sampler)
            for row, i in enumerate(batch):
                answers[i] = Answer(tokenizer.decode(out[row, length:].tolist()).strip(), forwards)
    return answers


def run_sampler(
    model: LLaDAModel, tokenizer: LLaDATokenizer, prompt: torch.Tensor, settings: Settings, sampler: Sampler
) -> tuple[torch.Tensor, int]:
    """`sampler` over prompt [B, P], greedy: ([B, P + gen_length] ids, the forwards it ran)."""
    from llada_tui.core import generate
    from llada_tui.core.cached import generate_cached
    from llada_tui.core.threshold import generate_threshold
    from llada_tui.core.wino import generate_wino

    shared = dict(gen_length=settings.gen_length, block_length=settings.block_length, mask_id=tokenizer.mask_id)
    if sampler.name == "wino":
        return generate_wino(
            model, prompt, threshold=sampler.threshold, threshold_back=sampler.threshold_back, **shared
        )
    if sampler.cache != "none":
        steps, cache = settings.steps, sampler.cache
        return generate_cached(model, prompt, steps, threshold=sampler.threshold, cache=cache, **shared)
    if sampler.name == "threshold":
        return generate_threshold(model, prompt, settings.steps, threshold=sampler.threshold, **shared)
    out = generate(model, prompt, steps=settings.steps, eos_id=tokenizer.eos_id, eot_id=tokenizer.eot_id, **shared)
    return out, settings.steps


def is_correct(example: demo_tasks.Example, reply: str) -> bool:
    if example.task == "other":
        return reply == demo_tasks.FALLBACK_REPLY
    return demo_tasks.extract_answer(reply) == example.answer


def evaluate(
    model: LLaDAModel,
    tokenizer: LLaDATokenizer,
    n: int,
    settings: Settings,
    seed: int = EVAL_SEED,
    sampler: Sampler = Sampler(),
) -> dict:
    """Accuracy and forwards per answer, per task on n held-out prompts each and overall, and the
    article's three replies."""
    examples = [e for task in demo_tasks.TASKS for e in heldout_examples(task, n, seed)]
    article_prompts = list(demo_tasks.ARTICLE_PROMPTS.values())
    # One call for everything: prompts of equal length from different tasks share a batch.
    answers = sample_answers(model, tokenizer, [e.prompt for e in examples] + article_prompts, settings, sampler)
    tasks = {}
    for task in demo_tasks.TASKS:
        results = [(e, a) for e, a in zip(examples, answers, strict=False) if e.task == task]
        failures = [(e.prompt, a.reply) for e, a in results if not is_correct(e, a.reply)]
        tasks[task] = {
            "accuracy": 1 - len(failures) / n,
            "n": n,
            "failures": failures[:5],
            "forwards_per_answer": sum(a.forwards for _, a in results) / n,
        }
    held_out = answers[: len(examples)]
    overall = {
        "accuracy": sum(is_correct(e, a.reply) for e, a in zip(examples, held_out, strict=True)) / len(examples),
        "n": len(examples),
        "forwards_per_answer": sum(a.forwards for a in held_out) / len(examples),
    }
    article = {
        task: {
            "reply": answer.reply,
            "correct": demo_tasks.extract_answer(answer.reply) == demo_tasks.ARTICLE_ANSWERS[task],
            "forwards": answer.forwards,
        }
        for task, answer in zip(demo_tasks.ARTICLE_PROMPTS, answers[len(examples) :], strict=True)
    }
    return {
        "settings": asdict(settings),
        "sampler": asdict(sampler),
        "tasks": tasks,
        "overall": overall,
        "article": article,
    }


def format_report(report: dict, device: str) -> str:
    """The report as a table; a sampler that decides its own steps adds forwards per answer and an overall row."""
    s = report["settings"]
    sampler = Sampler(**report.get("sampler", {}))
    counted = not sampler.fixed_steps
    head = f"{date.today().isoformat()} · {device} · gen_length {s['gen_length']}, steps {s['steps']}, "
    head += f"block_length {s['block_length']}, greedy, low_confidence"
    lines = [head + (f" · {sampler.describe()}" if counted else "")]
    if counted:
        lines += ["| task | held-out accuracy | n | target | forwards per answer |", "| --- | --- | --- | --- | --- |"]
    else:
        lines += ["| task | held-out accuracy | n | target |", "| --- | --- | --- | --- |"]
    for task, result in report["tasks"].items():
        target = f"≥ {TARGETS[task]:.0%}" if task in TARGETS else "-"
        row = f"| {task} | {result['accuracy']:.1%} | {result['n']} | {target} |"
        lines.append(row + (f" {result['forwards_per_answer']:.2f} |" if counted else ""))
    if counted:
        total = report["overall"]
        lines.append(f"| overall | {total['accuracy']:.1%} | {total['n']} | - | {total['forwards_per_answer']:.2f} |")
    for task, result in report["article"].items():
        lines.append(f"article {task}: {'correct' if result['correct'] else 'WRONG'}: {result['reply']}")
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> None:
    from llada_tui.core.checkpoint import ModelLoadError
    from llada_tui.core.loading import load_model
    from llada_tui.core.tokenizer import load_tokenizer

    parser = argparse.ArgumentParser(description="Held-out accuracy of the demo model.")
    parser.add_argument("--n", type=int, default=200, help="prompts per task")
    parser.add_argument("--checkpoint", type=Path, default=DEMO_DIR)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--gen-length", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--block-length", type=int)
    parser.add_argument("--sampler", choices=["reference", "threshold", "wino"], default="reference")
    parser.add_argument("--threshold", type=float, help="threshold / wino: commit at or above it")
    parser.add_argument("--threshold-back", type=float, help="wino: re-mask below it")
    parser.add_argument("--cache", choices=["none", "prefix", "dual"], default="none")
    parser.add_argument("--json", type=Path, help="also write the report here, with the command")
    args = parser.parse_args(argv)
    shipped = Settings.shipped(args.checkpoint)
    settings = Settings(
        args.gen_length or shipped.gen_length, args.steps or shipped.steps, args.block_length or shipped.block_length
    )
    try:
        sampler = Sampler(args.sampler, args.threshold, args.threshold_back, args.cache).checked(settings)
    except OptionError as error:
        parser.error(str(error))
    try:
        model = load_model(args.checkpoint, device=args.device, dtype=torch.float32)
        tokenizer = load_tokenizer(args.checkpoint)
    except ModelLoadError as error:
        raise SystemExit(f"error: {error}") from None
    started = time.perf_counter()
    report = evaluate(model, tokenizer, args.n, settings, args.seed, sampler)
    seconds = time.perf_counter() - started
    device = device_name(torch.device(args.device))
    command = shlex.join(["python", "-m", "training.evaluate", *(sys.argv[1:] if argv is None else argv)])
    print(format_report(report, device))
    print(f"({seconds:.0f} s; command: {command})")
    if args.json:
        report |= {"command": command, "device": device, "date": date.today().isoformat(), "seconds": round(seconds)}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
