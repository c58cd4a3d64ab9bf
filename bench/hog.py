"""Keep every core busy, as a shared CI runner is, for a bounded time: `make test-under-load` runs the suite beside it.

Timing races hide on an idle machine; a spinning process per core gives every test process a scheduler that
may put it off at any moment. Each spinner stops by itself at the deadline or when the hog is gone, so an
interrupted run cannot leave the machine loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from types import FrameType


def spin(deadline: float, parent: int) -> None:
    while time.monotonic() < deadline and os.getppid() == parent:
        for _ in range(200_000):  # checks the clock and the parent only between bursts of pure work
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hog", description=__doc__)
    parser.add_argument("--seconds", type=float, default=900, help="stop after this long even if nobody stops the hog")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="spinning processes (default: one per core)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.seconds
    parent = os.getpid()
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            # Ctrl-C reaches the whole process group: the hog stops its spinners, which must not unwind into its code.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                spin(deadline, parent)
            finally:
                os._exit(0)
        children.append(pid)

    def stop(sig: int, frame: FrameType | None) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    print(f"hog: {args.processes} spinning processes stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
