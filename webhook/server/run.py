"""Running the app under uvicorn: TLS with hot reload, drain on SIGTERM, exit 0, optional worker processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from webhook.adapters.certs import dev_bundle
from webhook.server.bootstrap import build_app, build_runtime
from webhook.server.config import ServeConfig
from webhook.server.logs import configure
from webhook.server.runtime import Runtime
from webhook.server.tls import CertStore

log = logging.getLogger("workerguard.server")


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM drains before stopping, and a drained stop exits 0.

    uvicorn would stop at once and re-raise the signal afterwards (exit code 143); a webhook must
    instead keep answering while the apiserver notices the endpoint is gone.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.runtime.draining:
            log.warning("second signal: stopping now", extra={"event": "forced_stop", "signal": sig})
            self.should_exit = self.force_exit = True
            return
        log.info(
            f"draining for {self.runtime.config.drain_seconds:g}s before stopping",
            extra={"event": "drain_started", "signal": sig},
        )
        self.runtime.begin_drain()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, let in-flight requests finish and flush, then abort what is left.

        uvicorn's own shutdown waits for each TLS connection to complete its close_notify exchange, so
        one idle keep-alive peer that never answers holds the process for the whole grace period.
        """
        log.info("shutting down", extra={"event": "shutdown"})
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        connections = self.server_state.connections
        for connection in list(connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        while (self.server_state.tasks or _unflushed(connections)) and time.monotonic() < deadline and not self.force_exit:
            await asyncio.sleep(0.02)
        for connection in list(connections):
            connection.transport.abort()
        for task in self.server_state.tasks:
            task.cancel(msg="shutdown timeout exceeded")
        self.runtime.ledger.settle()  # also on a forced stop, which skips the lifespan's own settling
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def on_tick(self, counter: int) -> bool:
        since = self.runtime.draining_since
        if since is not None and time.monotonic() - since >= self.runtime.config.drain_seconds:
            self.should_exit = True
        return await super().on_tick(counter)


def _unflushed(connections: Iterable[Any]) -> bool:
    return any(connection.transport.get_write_buffer_size() for connection in connections)


def ensure_dev_certs(config: ServeConfig) -> None:
    cert, key = Path(config.tls_cert), Path(config.tls_key)
    if cert.exists() and key.exists():
        return
    bundle = dev_bundle()
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    (cert.parent / "ca.crt").write_bytes(bundle.ca_cert)
    cert.write_bytes(bundle.tls_cert)
    key.touch(mode=0o600)
    key.write_bytes(bundle.tls_key)
    log.info(
        f"generated a development CA and certificate for localhost: {cert.parent / 'ca.crt'}, {cert}, {key}",
        extra={"event": "dev_certs_generated"},
    )


def build_server(config: ServeConfig) -> DrainingServer:
    certs = CertStore(config.tls_cert, config.tls_key)
    runtime = build_runtime(config, certs)
    uv_config = uvicorn.Config(
        build_app(runtime),
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The apiserver connects directly; X-Forwarded-* from anyone is not to be trusted or parsed.
        proxy_headers=False,
        timeout_keep_alive=int(config.keepalive_timeout),
        timeout_graceful_shutdown=int(config.shutdown_timeout),
        ssl_context_factory=lambda _config, _default: certs.server_context(),
    )
    return DrainingServer(uv_config, runtime)


def serve(config: ServeConfig) -> int:
    configure(config.log_format, config.log_level)
    if config.generate_dev_certs:
        ensure_dev_certs(config)
    try:
        server = build_server(config)
    except (OSError, ValueError, ssl.SSLError) as error:
        log.error(
            f"cannot load the TLS certificate {config.tls_cert} / {config.tls_key}: {error}", extra={"event": "startup_failed"}
        )
        return 1
    if server.runtime.rules.rules is None:
        log.error(f"cannot start: {server.runtime.rules.last_error}", extra={"event": "startup_failed"})
        return 1
    if config.workers <= 1:
        server.run()
        return 0
    return _run_workers(config, server)


def _run_workers(config: ServeConfig, server: DrainingServer) -> int:
    """Fork workers that share one listening socket; the parent relays SIGTERM and waits for them."""
    sock = server.config.bind_socket()
    children = []
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:
            worker = build_server(config)
            worker.run(sockets=[sock])
            os._exit(0)
        children.append(pid)
    sock.close()

    def relay(sig: int, frame: FrameType | None) -> None:
        for child in children:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    return 0 if status == 0 else 1
