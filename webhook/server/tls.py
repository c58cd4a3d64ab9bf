"""The TLS side: a TLS 1.2+ context per certificate pair, and a store that swaps pairs without a restart.

uvicorn builds its SSLContext once. The context handed to it carries an SNI callback that moves every
new handshake onto the store's current context, so a reload takes effect for new connections while
established ones keep the pair they started with.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from webhook.adapters.certs import inspect_pair, PairInfo
from webhook.core.errors import CertificateError

log = logging.getLogger("workerguard.tls")


def build_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass(frozen=True, slots=True)
class LoadedPair:
    context: ssl.SSLContext
    info: PairInfo
    digest: str


class CertStore:
    """The current certificate pair, replaced only by a complete, matching new pair."""

    def __init__(self, cert_path: str, key_path: str) -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self.current = self._load()
        self.last_error: str | None = None

    def _read(self) -> tuple[bytes, bytes, str]:
        cert, key = Path(self.cert_path).read_bytes(), Path(self.key_path).read_bytes()
        return cert, key, hashlib.sha256(cert + b"\0" + key).hexdigest()

    def _load(self) -> LoadedPair:
        cert, key, digest = self._read()
        info = inspect_pair(cert, key)
        if not info.key_matches:
            raise CertificateError("the key does not belong to the certificate")
        context = build_context(self.cert_path, self.key_path)
        # The files may have changed between reading and loading: only trust a pair read twice the same.
        if self._read()[2] != digest:
            raise CertificateError("the files changed while loading; will retry")
        return LoadedPair(context, info, digest)

    def reload(self) -> str:
        """'unchanged', 'reloaded' or 'failed'; a failure keeps the previous pair."""
        try:
            if self._read()[2] == self.current.digest:
                return "unchanged"
            self.current = self._load()
        except (OSError, ValueError, ssl.SSLError) as error:
            message = f"kept the previous certificate: {error}"
            if message != self.last_error:
                log.error(message, extra={"event": "cert_reload_failed"})
            self.last_error = message
            return "failed"
        self.last_error = None
        log.info("loaded a new certificate", extra={"event": "cert_reloaded", "serial": f"{self.current.info.serial:x}"})
        return "reloaded"

    def server_context(self) -> ssl.SSLContext:
        """The context to give the server: its handshakes are moved onto whichever pair is current."""
        context = build_context(self.cert_path, self.key_path)
        context.sni_callback = self._use_current
        return context

    def _use_current(self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        connection.context = self.current.context
