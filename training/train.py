"""Train the embedded demo model: masked-diffusion SFT of a small LLaDA on demo_tasks data.

    python -m training.train --out OUT                      # a GPU, about 7 minutes of training
    python -m training.train --out OUT2 --resume OUT        # another cycle from OUT's resume files
    python -m training.train --out /tmp/t --tiny --device cpu   # a smoke test

As LLaDA's SFT: the prompt stays intact; each reply token (EOT and EOS padding included) is
masked with probability t ~ U(eps, 1); the loss is the cross-entropy on masked tokens weighted
by 1/t. Half of the rows are masked like a block of semi-autoregressive sampling instead: the
reply before a block boundary intact, the block masked with probability t, everything after it
masked (weight 1), so that sampling with blocks of 16 or 32 sees what training saw. Each row
ends where a sampling run's would (prompt + gen_length, see mask_batch): attention and loss
ignore the padding after it.

Every row is fresh: CPU worker processes draw chunks of examples from the seed ahead of the
loop, each chunk goes to the GPU once; bf16 autocast, torch.compile, a large batch.
When --steps is not given, the number of steps that fits --time-budget is fixed after a short
timing and printed; `--steps N` with the same seed repeats a run step for step.
Resume files hold the float32 weights and the step. A resumed run is a new cycle (warm restart):
N more steps (--steps, or what fits the budget) with their own warmup and cosine, and data chunks
that carry on where the previous cycle stopped. AdamW's moments are not kept (they would not fit
the device's 16 MiB-per-file limit), which the fresh warmup covers.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from llada_tui.core.checkpoint import DEMO_DIR
from llada_tui.core.config import LLaDAConfig
from llada_tui.core.llada import LLaDAModel, init_weights
from llada_tui.core.saving import save_checkpoint
from llada_tui.core.tokenizer import load_tokenizer
from training.dataset import CHUNK, RESPONSE_LEN, SEQ_LEN, stream_chunks
from training.evaluate import Settings, evaluate, format_report
from training.tokenizer import CHAT_TEMPLATE

RESUME_SHARD_BYTES = 15 * 2**20  # files coming back from the device are at most 16 MiB each


@dataclass
class TrainConfig:
    seed: int = 0
    batch_size: int = 512
    lr: float = 1.5e-3
    min_lr: float = 1e-4
    warmup: int = 300
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    steps: int | None = None  # steps in this run (cycle); None: as many as fit time_budget_s
    time_budget_s: float = 370.0
    block_fraction: float = 0.5  # rows masked like semi-autoregressive sampling
    longer_fraction: float = 0.2  # rows with a gen_length above the default (up to what fits)
    mask_eps: float = 1e-3
    eval_every: int = 4000
    eval_n: int = 40
    # the model
    d_model: int = 256
    n_layers: int = 8
    n_heads: int = 8
    mlp_hidden_size: int = 768
    rope_theta: float = 500_000.0  # LLaDA-8B's value (r4); r2 used 10000

    def model_config(self, tokenizer: Tokenizer) -> LLaDAConfig:
        eos_id = tokenizer.token_to_id("<|endoftext|>")
        return LLaDAConfig(
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            mlp_hidden_size=self.mlp_hidden_size,
            vocab_size=tokenizer.get_vocab_size(),
            max_sequence_length=512,
            rope_theta=self.rope_theta,
            mask_token_id=tokenizer.token_to_id("<|mdm_mask|>"),
            eos_token_id=eos_id,
            pad_token_id=eos_id,
        )


TINY = {"batch_size": 16, "steps": 30, "warmup": 5, "eval_every": 20, "eval_n": 4, "d_model": 64,
        "n_layers": 2, "n_heads": 4, "mlp_hidden_size": 128}  # fmt: skip


def learning_rate(config: TrainConfig, step: int, first_step: int, max_steps: int) -> float:
    """Linear warmup, cosine decay to min_lr, over this cycle's steps first_step .. max_steps."""
    warm = min(1.0, (step - first_step + 1) / config.warmup)
    progress = min(1.0, (step - first_step) / max(1, max_steps - first_step))
    cosine = config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))
    return cosine * warm


def mask_batch(
    ids: torch.Tensor, prompt_len: torch.Tensor, config: TrainConfig, mask_id: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The noisy input, the per-token loss weights (0 where not masked), the reply mask and the key mask.

    Each row is as long as a sampling run sees it: the prompt and gen_length positions, where
    gen_length is RESPONSE_LEN (the default) for most rows and a longer multiple of 16 for some.
    Attention ignores the rest of the row (the key mask), so the model never learns from padding
    a sampler does not have; without it the model only worked at the padded length (run r3).
    """
    B, L = ids.shape
    device = ids.device
    rand = lambda *shape: torch.rand(*shape, device=device, generator=generator)  # noqa: E731
    pos = torch.arange(L, device=device)
    offset = pos[None, :] - prompt_len[:, None]  # [B, L] position within the reply
    room = (L - prompt_len[:, None] - RESPONSE_LEN) // 16  # [B, 1] longer gen_lengths that fit
    longer = torch.where(rand(B, 1) < config.longer_fraction, (rand(B, 1) * (room + 1)).floor().long(), 0)
    gen_length = RESPONSE_LEN + 16 * longer  # [B, 1]
    keys = offset < gen_length
    reply = (offset >= 0) & keys
    t = config.mask_eps + (1 - config.mask_eps) * rand(B, 1)  # [B, 1]
    # Block-shaped rows: a block of 16 or 32 starting at a multiple of its size.
    block = torch.where(rand(B, 1) < 0.5, 16, 32)
    start = block * (rand(B, 1) * (gen_length // block)).floor().long()
    blockwise = torch.where(offset < start, 0.0, torch.where(offset < start + block, t, 1.0))
    p = torch.where(rand(B, 1) < config.block_fraction, blockwise, t.expand(B, L))
    p = torch.where(reply, p, 0.0)
    masked = rand(B, L) < p
    noisy = torch.where(masked, mask_id, ids)
    weight = torch.where(masked, 1.0 / p.clamp_min(config.mask_eps), 0.0)
    return noisy, weight, reply, keys


def save_demo_model(model: LLaDAModel, tokenizer: Tokenizer, folder: Path) -> None:
    """The shipped files: float16 weights under the official names, the official config.json and
    the tokenizer files (a checkpoint folder that `llada-tui record --model FOLDER` runs)."""
    state = {name: tensor.detach().to(torch.float16) for name, tensor in model.state_dict().items()}
    save_checkpoint(folder, model.config, state, tokenizer, CHAT_TEMPLATE)


def save_resume(model: LLaDAModel, folder: Path, state: dict) -> None:
    """float32 weights in files of at most RESUME_SHARD_BYTES, and resume.json."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in model.state_dict().items():
        nbytes = tensor.numel() * 4
        if shards[-1] and size + nbytes > RESUME_SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = tensor.detach().float().cpu().contiguous()
        size += nbytes
    for i, shard in enumerate(shards):
        save_file(shard, folder / f"resume-{i}.safetensors")
    (folder / "resume.json").write_text(json.dumps({**state, "shards": len(shards)}, indent=2) + "\n")


def load_resume(model: LLaDAModel, folder: Path) -> dict:
    state = json.loads((folder / "resume.json").read_text())
    weights = {}
    for i in range(state["shards"]):
        weights.update(load_file(folder / f"resume-{i}.safetensors"))
    model.load_state_dict(weights)
    return state


def quantized_copy(model: LLaDAModel) -> LLaDAModel:
    """The model as shipped: weights rounded to float16, computed in float32."""
    copy = LLaDAModel(model.config).to(next(model.parameters()).device)
    copy.load_state_dict({k: v.to(torch.float16).float() for k, v in model.state_dict().items()})
    return copy.eval()


def train(config: TrainConfig, out: Path, device: str, resume: Path | None, final_n: int) -> None:
    torch.manual_seed(config.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log = lambda message: print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)  # noqa: E731

    tokenizer = Tokenizer.from_file(str(DEMO_DIR / "tokenizer.json"))
    demo_tokenizer = load_tokenizer(DEMO_DIR)
    model_config = config.model_config(tokenizer)
    model = LLaDAModel(model_config).to(device)
    init_weights(model)
    first_step = 0
    if resume is not None:
        first_step = load_resume(model, resume)["step"]
        log(f"resumed at step {first_step} from {resume}: a new cycle (fresh AdamW moments)")
    max_steps = first_step + config.steps if config.steps else None
    steps_per_chunk = CHUNK // config.batch_size
    chunks = stream_chunks(tokenizer, config.seed, first=first_step // steps_per_chunk)
    log(f"model: {model_config.summary()}")
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=device.startswith("cuda"))
    model.rotary(SEQ_LEN, torch.device(device))  # cached before compiling, so the graph never sees it change
    forward = torch.compile(model)
    generator = torch.Generator(device=device).manual_seed(config.seed + first_step)
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    mask_id = model_config.mask_token_id

    chunk_ids = chunk_prompt_len = order = None

    def train_step(step: int, limit: int) -> torch.Tensor:
        nonlocal chunk_ids, chunk_prompt_len, order
        if chunk_ids is None or step % steps_per_chunk == 0:
            chunk = next(chunks)
            chunk_ids = torch.from_numpy(chunk.ids).to(device).long()
            chunk_prompt_len = torch.from_numpy(chunk.prompt_len).to(device).long()
            order = torch.randperm(len(chunk_ids), device=device, generator=generator)
        rows = order[(step % steps_per_chunk) * config.batch_size :][: config.batch_size]
        ids = chunk_ids[rows]
        noisy, weight, reply, keys = mask_batch(ids, chunk_prompt_len[rows], config, mask_id, generator)
        with autocast:
            logits = forward(noisy, mask=keys[:, None, None, :])
        loss_per_token = F.cross_entropy(logits.float().flatten(0, 1), ids.flatten(), reduction="none")
        loss = (loss_per_token * weight.flatten()).sum() / reply.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, first_step, limit)
        optimizer.step()
        return loss.detach()

    step, timing_steps = first_step, 30
    window_start, window_step = time.perf_counter(), step
    tokens_per_step = config.batch_size * SEQ_LEN
    train_started = time.perf_counter()
    while max_steps is None or step < max_steps:
        try:
            loss = train_step(step, max_steps or 10**9)
        except Exception as error:  # torch.compile failed (no compiler here?): eager is only slower
            if forward is model:
                raise
            log(f"torch.compile failed ({str(error).splitlines()[0]}); running eager")
            forward = model
            continue
        step += 1
        if max_steps is None and step - first_step == 10:
            torch.cuda.synchronize() if device.startswith("cuda") else None
            timing_started = time.perf_counter()
        if max_steps is None and step - first_step == 10 + timing_steps:
            torch.cuda.synchronize() if device.startswith("cuda") else None
            per_step = (time.perf_counter() - timing_started) / timing_steps
            remaining = config.time_budget_s - (time.perf_counter() - train_started)
            max_steps = step + int(remaining / per_step)
            steps = max_steps - first_step
            log(f"{per_step * 1000:.1f} ms per step: training {steps} steps (repeat with --steps {steps})")
        if step % 100 == 0 or step == max_steps:
            elapsed = time.perf_counter() - window_start
            rate = (step - window_step) * tokens_per_step / elapsed
            lr = optimizer.param_groups[0]["lr"]
            log(f"step {step}/{max_steps}  loss {float(loss):.4f}  lr {lr:.2e}  {rate / 1e6:.2f} M tokens/s")
            window_start, window_step = time.perf_counter(), step
        if config.eval_every and step % config.eval_every == 0 and step != max_steps:
            report = evaluate(quantized_copy(model), demo_tokenizer, config.eval_n, Settings())
            accuracies = {task: f"{r['accuracy']:.0%}" for task, r in report["tasks"].items()}
            log(f"step {step} held-out (n={config.eval_n}, block 16): {accuracies}")
            save_demo_model(model, tokenizer, out)  # something to ship even if the run is cut off later

    state = {
        "step": step,
        "max_steps": max_steps,
        "config": asdict(config),
        "train_seconds": time.perf_counter() - train_started,
    }
    save_resume(model, out, state)
    save_demo_model(model, tokenizer, out)
    log(f"saved {out}: step {step}, last loss {float(loss):.4f}")

    shipped = quantized_copy(model)
    reports = []
    for settings in (Settings(64, 64, 16), Settings(64, 64, 32)):  # the others: evaluate on the CPU
        report = evaluate(shipped, demo_tokenizer, final_n, settings)
        print(format_report(report, torch.cuda.get_device_name() if device.startswith("cuda") else device), flush=True)
        for task, result in report["tasks"].items():
            for prompt, reply in result["failures"][:2]:
                print(f"  {task} failure: {prompt!r} -> {reply!r}")
        reports.append(report)
    (out / "eval.json").write_text(json.dumps(reports, indent=2) + "\n")
    log("done")


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the embedded demo model.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and a few steps (a smoke test)")
    parser.add_argument("--final-n", type=int, default=200, help="held-out prompts per task at the end")
    for field in fields(TrainConfig):
        if field.name in ("steps", "time_budget_s", "batch_size", "lr", "seed", "eval_every", "rope_theta"):
            kind = int if field.name in ("steps", "batch_size", "seed", "eval_every") else float
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind)
    args = parser.parse_args()
    config = TrainConfig(**(TINY if args.tiny else {}))
    for field in fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None:
            setattr(config, field.name, value)
    train(config, args.out, args.device, args.resume, args.final_n)


if __name__ == "__main__":
    main()
