"""How long the player takes to show another step, on a synthetic run of 4096 tokens x 4096 steps.

    python benchmarks/render_step.py [--tokens 4096] [--steps 4096] [--size 120x40] [--repeat 200]

Builds the run in memory (one token committed per step, 8 blocks, top-k candidates on every
step for the positions on screen), opens the player headless, then jumps to random steps and
times, for each jump:
  grid     the token grid alone: every visible line drawn for the new step (no strip cached);
  jump     the whole change to a random step as the app does it: position set (header, panels,
           timeline and grid updated), Textual's repaint of what changed, encoded for the
           terminal (CPU time: the wait for Textual's next frame tick is not work);
  step     the same for one step forward (→), the common case while playing or scrubbing;
  repaint  an upper bound: the position set and the whole screen composed and encoded again.
For comparison it does the same on a run 16 times smaller: the cost should not grow with length.
Target: <= 20 ms per step change on a 2-core machine. Not a test: it only reports.

    python benchmarks/render_step.py --limits [--before DIR] [--size 80x24]

At the trace reader's limits instead: a run of 32768 positions x 32768 steps of one token each
(blocks of 1), and one of 32768 positions all holding the same 1024-character token (64 steps).
For each, in a process of its own: the time to the first frame (the app started on the run held
in memory, until it is drawn and idle), the CPU time of a few keys (End, ←, →, Home, 5) until the
app is idle again, their frame encoded for the terminal (an upper bound: it includes Textual's
idle polling, a few ms), the step each key reached, and the peak memory. With --before DIR, where DIR holds another
version of the package as DIR/llada_tui/{core,tui} (e.g. `git archive COMMIT core tui | tar -x
-C DIR/llada_tui`), the same is measured for that version in the same run, with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable

from rich.console import Console
from textual._compositor import CompositorUpdate

from llada_tui.core.records import Candidates, End, Header, Step
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.messages import HeaderArrived, RunEnded, StepsArrived
from llada_tui.tui.sources.source import Deliver, Source
from llada_tui.tui.widgets.grid import TokenGrid

MASK = 9
WORDS = 2000


def synthetic_run(tokens: int, steps: int, blocks: int = 8, k: int = 5, seed: int = 0) -> tuple[Header, list[Step]]:
    rng = random.Random(seed)
    texts = {MASK: "<|mdm_mask|>"}
    texts.update({1000 + i: (" " if i % 7 else "\n") + f"w{i}" for i in range(WORDS)})
    header = Header(
        prompt_text="a long synthetic run",
        prompt_ids=[],
        model={"name": "synthetic"},
        params={
            "steps": steps,
            "gen_length": tokens,
            "block_length": tokens // blocks,
            "temperature": 0.0,
            "cfg_scale": 0.0,
            "remasking": "low_confidence",
            "mask_id": MASK,
        },
        token_texts=texts,
    )
    block_length, per_block = tokens // blocks, steps // blocks
    per_step = block_length // per_block
    run = []
    for block in range(blocks):
        order = list(range(block * block_length, (block + 1) * block_length))
        rng.shuffle(order)
        for j in range(per_block):
            chosen = sorted(order[j * per_step : (j + 1) * per_step])
            shown = array("i", range(min(tokens, 200)))  # candidates for the positions a screen shows
            run.append(
                Step(
                    index=len(run),
                    block=block,
                    positions=array("i", chosen),
                    ids=array("i", [1000 + rng.randrange(WORDS) for _ in chosen]),
                    confidences=array("f", [rng.random() for _ in chosen]),
                    wall_ms=40.0,
                    candidates=Candidates(
                        shown,
                        array("i", [1000 + rng.randrange(WORDS) for _ in range(len(shown) * k)]),
                        array("f", [rng.random() for _ in range(len(shown) * k)]),
                        k,
                    ),
                )
            )
    return header, run


class MemorySource(Source):
    def __init__(self, header: Header, steps: list[Step]):
        self.header, self.steps = header, steps

    def run(self, deliver: Deliver, stop) -> None:
        deliver(HeaderArrived(self.header))
        deliver(StepsArrived(self.steps))
        deliver(RunEnded(End("complete", []), None))


def encoding_display(app: PlayerApp) -> tuple[Callable[[object, object], None], list[float]]:
    """A stand-in for app._display that also encodes each update, and the CPU times of those frames.

    Headless apps skip encoding the update for a terminal; a real one pays for it.
    """
    frames: list[float] = []
    display = app._display

    def display_and_encode(screen, renderable) -> None:
        display(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)
            frames.append(time.process_time())

    return display_and_encode, frames


async def measure(tokens: int, steps: int, size: tuple[int, int], repeat: int) -> dict[str, list[float]]:
    header, run = synthetic_run(tokens, steps)
    started = time.perf_counter()
    app = PlayerApp(MemorySource(header, run))
    timings: dict[str, list[float]] = {"grid": [], "jump": [], "step": [], "repaint": []}
    display_and_encode, frames = encoding_display(app)
    async with app.run_test(size=size) as pilot:
        while not app.recording.ended:
            await pilot.pause()
        load_ms = (time.perf_counter() - started) * 1000
        app._display = display_and_encode
        grid = app.query_one(TokenGrid)
        await pilot.press("tab")  # a token selected: its panel is redrawn on every step too
        await pilot.pause()
        screen = app.screen
        sink = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=size[0])
        rng = random.Random(1)
        for _ in range(repeat):
            t = rng.randrange(steps + 1)
            grid.show(t)
            begin = time.perf_counter()
            grid._strips.clear()
            for y in range(grid.size.height):
                grid.render_line(y)
            timings["grid"].append(time.perf_counter() - begin)

            # What the app really does: set the position, let Textual repaint what changed.
            # CPU time, so that the wait for Textual's next frame tick (up to 1/60 s) is not counted.
            jump = rng.randrange(steps)
            for kind, t in (("jump", jump), ("step", jump + 1)):
                frames.clear()
                begin = time.process_time()
                app.position = t
                while not frames:
                    await asyncio.sleep(0)
                timings[kind].append(frames[0] - begin)
                await pilot.pause()

            # Upper bound: the whole screen composed and encoded again.
            t = rng.randrange(steps + 1)
            begin = time.perf_counter()
            app.position = t
            screen._refresh_layout()
            sink.print(screen._compositor.render_update(full=True), end="")
            timings["repaint"].append(time.perf_counter() - begin)
            sink.file = io.StringIO()
            await pilot.pause()
        await pilot.press("q")
    print(f"  {tokens} tokens x {steps} steps at {size[0]}x{size[1]}: loaded and indexed in {load_ms:.0f} ms")
    return timings


def report(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{name}: median {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms, max {ms[-1]:.2f} ms"


# ---------------------------------------------------------------------------- at the limits

LIMIT = 32768  # core/records.py: MAX_GEN_LENGTH = MAX_STEPS
LONG_TEXT = 1024  # core/records.py: MAX_TOKEN_TEXT_CHARS
# (key, pressed at): End and 5 jump, the arrows step, Home jumps back
LIMIT_KEYS = (("end", "0"), ("left", "end"), ("right", "end-1"), ("home", "end"), ("right", "0"), ("5", "0"))


def limit_run(kind: str) -> tuple[Header, list[Step]]:
    """A run at the reader's limits: "steps" (one token per step, blocks of 1) or "texts"."""
    texts = {MASK: "<|mdm_mask|>"}
    if kind == "steps":
        texts.update({1000 + i: f" w{i}" for i in range(WORDS)})
        steps = [
            Step(i, i, array("i", [i]), array("i", [1000 + i % WORDS]), array("f", [0.5]), 1.0) for i in range(LIMIT)
        ]
        block_length, total = 1, LIMIT
    else:
        texts[1000] = "x" * LONG_TEXT
        total, per_step = 64, LIMIT // 64
        steps = [
            Step(s, s, array("i", range(s * per_step, (s + 1) * per_step)), array("i", [1000] * per_step),
                 array("f", [0.5] * per_step), 1.0)
            for s in range(total)
        ]  # fmt: skip
        block_length = per_step
    header = Header(
        prompt_text="at the limits",
        prompt_ids=[],
        model={"name": "synthetic"},
        params={"steps": total, "gen_length": LIMIT, "block_length": block_length, "temperature": 0.0,
                "cfg_scale": 0.0, "remasking": "low_confidence", "mask_id": MASK},
        token_texts=texts,
    )  # fmt: skip
    return header, steps


async def measure_limits(kind: str, size: tuple[int, int]) -> dict[str, object]:
    from textual import events

    header, run = limit_run(kind)
    started = time.perf_counter()
    app = PlayerApp(MemorySource(header, run))
    display_and_encode, frames = encoding_display(app)
    app._display = display_and_encode
    result: dict[str, object] = {}
    async with app.run_test(size=size) as pilot:
        while not app.recording.ended:
            await pilot.pause()
        await pilot.pause()  # until idle: the grid is laid out once it has a size, after the run arrived
        result["first frame s"] = time.perf_counter() - started
        keys: dict[str, list[float]] = {}
        reached: dict[str, int] = {}
        for key, start in LIMIT_KEYS:
            last = app.recording.length
            app.position = {"0": 0, "end": last, "end-1": last - 1}[start]
            await pilot.pause()
            begin = time.process_time()  # CPU time until the key is handled and its frame encoded:
            app.post_message(events.Key(key, None))  # the wait for Textual's next frame tick is not work
            await pilot.pause()
            keys.setdefault(key, []).append((time.process_time() - begin) * 1000)
            reached[f"{key} from {start}"] = app.position
        result["keys ms"] = keys
        result["steps reached"] = reached
        await pilot.press("q")
    result["peak MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def limits(size: str, before: str | None) -> None:
    """Each run in a process of its own (peak memory is per process); the other version too."""
    versions = {"now": None, **({"before": before} if before else {})}
    results: dict[tuple[str, str], dict] = {}
    for kind in ("steps", "texts"):
        for version, folder in versions.items():
            env = dict(os.environ)
            if folder:
                env["PYTHONPATH"] = os.path.abspath(folder)
            command = [sys.executable, __file__, "--limit-run", kind, "--size", size]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode:
                raise SystemExit(f"{version} {kind}: {done.stderr.strip().splitlines()[-1]}")
            results[kind, version] = json.loads(done.stdout.strip().splitlines()[-1])
    titles = {"steps": f"{LIMIT} positions x {LIMIT} steps, blocks of 1",
              "texts": f"{LIMIT} positions of one {LONG_TEXT}-character token, 64 steps"}  # fmt: skip
    for kind, title in titles.items():
        print(f"{title}, at {size}:")
        for version in versions:
            r = results[kind, version]
            keys = "  ".join(f"{k} {statistics.median(v):.1f}" for k, v in r["keys ms"].items())
            reached = ", ".join(f"{k}: {v}" for k, v in r["steps reached"].items())
            print(f"  {version:>6}: first frame {r['first frame s']:.2f} s, peak {r['peak MB']:.0f} MB;"
                  f" keys (ms CPU): {keys}\n          steps reached: {reached}")  # fmt: skip
        if before:
            now, old = results[kind, "now"], results[kind, "before"]
            ratios = [f"first frame x{old['first frame s'] / now['first frame s']:.1f}"]
            for key in now["keys ms"]:
                ratios.append(
                    f"{key} x{statistics.median(old['keys ms'][key]) / statistics.median(now['keys ms'][key]):.1f}"
                )
            print("   before/now: " + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--limits", action="store_true", help="first frame and keys at the trace limits")
    parser.add_argument("--before", metavar="DIR", help="with --limits: also measure the version in DIR")
    parser.add_argument("--limit-run", choices=("steps", "texts"), help=argparse.SUPPRESS)  # one measurement
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.limit_run:
        print(json.dumps(asyncio.run(measure_limits(args.limit_run, (width, height)))))
        return
    if args.limits:
        limits(args.size, args.before)
        return
    for tokens, steps in ((args.tokens, args.steps), (args.tokens // 16, args.steps // 16)):
        timings = asyncio.run(measure(tokens, steps, (width, height), args.repeat))
        for name, values in timings.items():
            print("    " + report(name, values))


if __name__ == "__main__":
    main()
