"""Run a service module under cProfile switched by signals (for ``router_ab.py --profile``).

    python bench/profiled.py OUT router_svc --config PATH

SIGUSR1 starts profiling the main thread (the event loop); SIGUSR2 stops it and writes the
stats to ``OUT`` (pstats format), so a harness can profile exactly one batch of requests.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    """Install the handlers, then run the module as ``python -m`` would."""
    out, module, *args = sys.argv[1:]
    profile = cProfile.Profile()

    def start(signum: int, frame: FrameType | None) -> None:
        profile.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(out)
        Path(out + ".done").touch()
        profile.clear()  # type: ignore[attr-defined]

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
