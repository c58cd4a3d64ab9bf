"""A Redis PING with the standard library only, for workers without a client of their own.

redis:// and rediss:// (TLS), an ACL user with its password or a password alone, URL-encoded
credentials, and a database number. Failures name host:port, never the password.
"""

from __future__ import annotations

import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO

from ._heartbeat import Check


@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    db: int

    @property
    def where(self) -> str:
        return f"redis {'(TLS) ' if self.tls else ''}at {self.host}:{self.port}"


def parse_url(url: str) -> RedisTarget:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"{parts.scheme or '(none)'}:// is not a Redis URL: expected redis:// or rediss://")
    path = parts.path.strip("/")
    db = urllib.parse.parse_qs(parts.query).get("db", [path or "0"])[0]
    if not db.isdigit():
        raise ValueError(f"redis database {db!r} is not a number")
    return RedisTarget(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        tls=parts.scheme == "rediss",
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        db=int(db),
    )


def redis_ping(url: str, timeout: float = 2.0, tls_context: ssl.SSLContext | None = None) -> Check:
    """A check that PINGs the Redis at url. For rediss://, tls_context defaults to the system's
    verified context; pass one with your CA (ssl.create_default_context(cafile=...)) for a private one."""
    target = parse_url(url)
    context = (tls_context or ssl.create_default_context()) if target.tls else None

    def ping() -> None:
        try:
            _ping(target, timeout, context)
        except RedisRefused as refused:
            raise ConnectionError(f"{target.where} answered {refused}") from None
        except (OSError, ssl.SSLError) as error:
            # The exception's text never carries our credentials; name where, and what went wrong.
            raise ConnectionError(f"{target.where}: {type(error).__name__}: {error}") from None

    return ping


class RedisRefused(Exception):
    """Redis answered with an error or an unexpected reply."""


def _ping(target: RedisTarget, timeout: float, context: ssl.SSLContext | None) -> None:
    with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
        connection = context.wrap_socket(raw, server_hostname=target.host) if context else raw
        with connection:
            reader = connection.makefile("rb")
            if target.password is not None:
                words = ("AUTH", target.username, target.password) if target.username else ("AUTH", target.password)
                _call(connection, reader, words, b"+OK")
            if target.db:
                _call(connection, reader, ("SELECT", str(target.db)), b"+OK")
            _call(connection, reader, ("PING",), b"+PONG")


def _call(connection: socket.socket, reader: BinaryIO, words: tuple[str | None, ...], expected: bytes) -> None:
    encoded = [word.encode() for word in words if word is not None]
    connection.sendall(b"".join([b"*%d\r\n" % len(encoded), *(b"$%d\r\n%s\r\n" % (len(w), w) for w in encoded)]))
    line = reader.readline(512)
    if not line:
        raise RedisRefused("nothing: the connection closed")
    if not line.startswith(expected):
        # An error line never echoes the password back (Redis says WRONGPASS or NOAUTH), but cut it short anyway.
        raise RedisRefused(line.rstrip(b"\r\n")[:80].decode(errors="replace"))
