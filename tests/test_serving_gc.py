"""Every process tunes its garbage collector before serving (llmrouter.serving.tune_gc): the
start-up heap frozen, the young generations collected less often than CPython's default. With
1,000 streams at once the default collector took about a quarter of the CPU (bench/streams.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from llmrouter.serving import GC_THRESHOLDS

PROGRAM = """
import gc, json
from llmrouter.serving import run_main

async def serve(stop):
    print(json.dumps({"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}))

raise SystemExit(run_main("probe", serve))
"""


def test_a_served_process_runs_with_the_tuned_collector() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    seen = json.loads(out)
    assert tuple(seen["thresholds"]) == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # less often than CPython's default
    # What was alive at start-up (modules, classes, functions) is never traversed again.
    assert seen["frozen"] > 10_000
