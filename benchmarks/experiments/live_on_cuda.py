"""The live app on CUDA with the demo model (Textual pilot), and `record --device cuda` beside it.

Run on the device (session 3, H100) as `python3 benchmarks/experiments/live_on_cuda.py OUTDIR cuda`
(textual and its dependencies installed there from wheels); output: results/h100_s3_live_demo.log.
"""

import asyncio
import sys
import time
from pathlib import Path

from llada_tui.cli.main import main as cli
from llada_tui.core.recording import SamplingOptions
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.live import LiveApp
from llada_tui.tui.sources.engine import EngineCache, ModelChoice

DEVICE = sys.argv[2] if len(sys.argv) > 2 else "cuda"
LILY = (
    "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
    "How many kilometers can she run in 8 hours?"
)


async def live(out: Path) -> None:
    output = out / "live_cuda.trace"
    app = LiveApp(EngineCache(ModelChoice(device=DEVICE)), LILY, SamplingOptions(), output)
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.recording is not None and app.recording.ended):
            assert time.perf_counter() - started < 180, "timed out"
            await asyncio.sleep(0.05)
        await pilot.pause()
        print(f"live run ended after {time.perf_counter() - started:.1f} s (load included)")
        app.save_screenshot(filename="live_cuda.svg", path=str(out))
        print("\n".join(app.grid.render_line(y).text for y in range(app.grid.size.height)))
    trace = load_trace(output)
    print("live:", trace.complete, trace.header.model, repr(trace.end.final_text[-60:]))
    print("wall_ms per step:", [round(s.wall_ms, 2) for s in trace.steps[:8]])


out = Path(sys.argv[1])
asyncio.run(live(out))
started = time.perf_counter()
rc = cli(["record", LILY, "--device", DEVICE, "-o", str(out / "record_cuda.trace")])
print(f"record rc={rc} in {time.perf_counter() - started:.1f} s")
a, b = load_trace(out / "live_cuda.trace"), load_trace(out / "record_cuda.trace")
same = [list(x.positions) == list(y.positions) and list(x.ids) == list(y.ids) for x, y in zip(a.steps, b.steps)]
final_equal = a.end.final_ids == b.end.final_ids
print(f"live vs record on CUDA: {sum(same)}/{len(same)} steps identical; final equal: {final_equal}")
