"""Celery: beat from the worker's main process, judging the tasks it has handed to its pool.

Every pool keeps the contract: prefork (tasks run in child processes; the main process knows when
each was accepted), threads and solo (a task blocks the worker's loop, not the beat), and gevent and
eventlet, where the beat runs in a real OS thread (see native.py). The default dependency check asks
the broker through Celery's own connection (kombu), so every transport works as Celery is configured:
redis, rediss with broker_use_ssl, ACL users, encoded passwords, Sentinel, amqp.
"""

from __future__ import annotations

from typing import Any

from ._heartbeat import Check, Heartbeat


def broker_check(app: Any, timeout: float = 2.0) -> Check:
    """Connects to the broker as Celery does (its URL, broker_use_ssl, transport options), and for a
    transport with a cheap round trip (Redis) asks for one. The reason names the host, never a password."""

    def check() -> None:
        connection = app.connection_for_write()
        try:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            channel = connection.default_channel
            client = getattr(channel, "client", None)  # the Redis transport's client
            if client is not None and hasattr(client, "ping"):
                client.ping()
        except Exception as error:  # noqa: BLE001 - any failure means "not usable"
            where = connection.as_uri()  # kombu masks the password
            raise ConnectionError(f"broker {where}: {type(error).__name__}: {error}") from None
        finally:
            connection.release()

    return check


def install_celery(app: Any, check: Check | None = None, *, check_broker: bool = True) -> Heartbeat:
    """Call once where the app is defined. Beating starts when the worker is ready and stops, with the
    exited marker, when its shutdown has finished the running tasks. The broker is checked unless
    check_broker is False or another check is given."""
    from celery import signals  # type: ignore[import-untyped]
    from celery.worker import state  # type: ignore[import-untyped]

    def running_since() -> list[float]:
        for _ in range(3):  # the pool's threads may change the set while it is read
            try:
                return [request.time_start for request in list(state.active_requests) if request.time_start]
            except RuntimeError:
                continue
        return []

    if check is None and check_broker:
        check = broker_check(app)
    heartbeat = Heartbeat.from_env(check=check, running_since=running_since)

    def started(**_: Any) -> None:
        heartbeat.start()

    def stopped(**_: Any) -> None:
        # worker_shutdown comes once the warm shutdown has waited for the pool's running tasks
        # (worker_shutting_down, at SIGTERM, comes before them): only now may the sidecars go.
        heartbeat.stop()

    signals.worker_ready.connect(started, weak=False)
    signals.worker_shutdown.connect(stopped, weak=False)
    return heartbeat
