"""Held-out accuracy of a demo checkpoint, sampled through llada_tui.core.generate.

    python -m training.evaluate --n 200                 # the shipped model, its default settings, CPU
    python -m training.evaluate --n 200 --block-length 32 --checkpoint PATH --device cuda

Prompts come from demo_tasks' held-out split (names and words never used in training) with
their own seed. A reply counts as correct when what it states after "The answer is" equals the
expected answer exactly; a fallback counts when the reply is the fallback sentence. Prompts of
equal token length are sampled together (no padding, so each row is what a single run gives).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import torch

from llada_tui.core.checkpoint import DEMO_DIR
from llada_tui.core.llada import LLaDAModel
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


def heldout_examples(task: str, n: int, seed: int = EVAL_SEED) -> list[demo_tasks.Example]:
    rng = random.Random(seed + demo_tasks.TASKS.index(task))
    return [demo_tasks.make_example(rng, "heldout", task) for _ in range(n)]


def sample_replies(
    model: LLaDAModel, tokenizer: LLaDATokenizer, prompts: list[str], settings: Settings, batch_size: int = 256
) -> list[str]:
    """The decoded reply to each prompt (greedy, low-confidence remasking)."""
    from llada_tui.core import generate

    device = next(model.parameters()).device
    encoded = tokenizer.apply_chat_template_batch(prompts)  # one sandboxed render for all
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(encoded):
        by_length[len(ids)].append(i)
    replies = [""] * len(prompts)
    for length, indices in by_length.items():
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            prompt = torch.tensor([encoded[i] for i in batch], device=device)
            out = generate(
                model,
                prompt,
                steps=settings.steps,
                gen_length=settings.gen_length,
                block_length=settings.block_length,
                mask_id=tokenizer.mask_id,
                eos_id=tokenizer.eos_id,
                eot_id=tokenizer.eot_id,
            )
            for row, i in enumerate(batch):
                replies[i] = tokenizer.decode(out[row, length:].tolist()).strip()
    return replies


def is_correct(example: demo_tasks.Example, reply: str) -> bool:
    if example.task == "other":
        return reply == demo_tasks.FALLBACK_REPLY
    return demo_tasks.extract_answer(reply) == example.answer


def evaluate(model: LLaDAModel, tokenizer: LLaDATokenizer, n: int, settings: Settings, seed: int = EVAL_SEED) -> dict:
    """Accuracy per task on n held-out prompts each, and the article's three replies."""
    examples = [e for task in demo_tasks.TASKS for e in heldout_examples(task, n, seed)]
    article_prompts = list(demo_tasks.ARTICLE_PROMPTS.values())
    # One call for everything: prompts of equal length from different tasks share a batch.
    replies = sample_replies(model, tokenizer, [e.prompt for e in examples] + article_prompts, settings)
    tasks = {}
    for task in demo_tasks.TASKS:
        results = [(e, r) for e, r in zip(examples, replies, strict=False) if e.task == task]
        failures = [(e.prompt, r) for e, r in results if not is_correct(e, r)]
        tasks[task] = {"accuracy": 1 - len(failures) / n, "n": n, "failures": failures[:5]}
    article = {
        task: {"reply": reply, "correct": demo_tasks.extract_answer(reply) == demo_tasks.ARTICLE_ANSWERS[task]}
        for task, reply in zip(demo_tasks.ARTICLE_PROMPTS, replies[len(examples) :], strict=True)
    }
    return {"settings": asdict(settings), "tasks": tasks, "article": article}


def format_report(report: dict, device: str) -> str:
    s = report["settings"]
    lines = [
        f"{date.today().isoformat()} · {device} · gen_length {s['gen_length']}, steps {s['steps']}, "
        f"block_length {s['block_length']}, greedy, low_confidence",
        "| task | held-out accuracy | n | target |",
        "| --- | --- | --- | --- |",
    ]
    for task, result in report["tasks"].items():
        target = f"≥ {TARGETS[task]:.0%}" if task in TARGETS else "-"
        lines.append(f"| {task} | {result['accuracy']:.1%} | {result['n']} | {target} |")
    for task, result in report["article"].items():
        lines.append(f"article {task}: {'correct' if result['correct'] else 'WRONG'}: {result['reply']}")
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main() -> None:
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
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    shipped = Settings.shipped(args.checkpoint)
    settings = Settings(
        args.gen_length or shipped.gen_length, args.steps or shipped.steps, args.block_length or shipped.block_length
    )
    try:
        model = load_model(args.checkpoint, device=args.device, dtype=torch.float32)
        tokenizer = load_tokenizer(args.checkpoint)
    except ModelLoadError as error:
        raise SystemExit(f"error: {error}") from None
    started = time.perf_counter()
    report = evaluate(model, tokenizer, args.n, settings, args.seed)
    print(format_report(report, device_name(torch.device(args.device))))
    print(f"({time.perf_counter() - started:.0f} s; command: python -m training.evaluate --n {args.n})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
