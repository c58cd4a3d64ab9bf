"""The sidecar of tests/workers/test_sidecar_order.py: a database proxy on a free loopback port that answers
each connection with one line, and exits at once on SIGTERM, as a proxy without drain settings does.

Its first line of output names the port; on SIGTERM it logs the unix time it got it.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from types import FrameType

ANSWER = b"1 row\n"


def exit_at_once(signum: int, frame: FrameType | None) -> None:
    print(f"{time.time():.6f} SIGTERM: exiting at once", flush=True)
    os._exit(0)


def main() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    # A handler, not the default action: as PID 1 of its namespace the default would ignore SIGTERM.
    signal.signal(signal.SIGTERM, exit_at_once)
    print(f"port {server.getsockname()[1]}", flush=True)
    while True:
        connection, _ = server.accept()
        with connection:
            connection.sendall(ANSWER)


if __name__ == "__main__":
    main()
