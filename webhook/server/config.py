"""`workerguard serve` options: every flag also read from WORKERGUARD_<NAME>, as a Deployment sets them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args, Literal

from webhook.core.errors import ConfigError
from webhook.core.inject import DEFAULT_HELPER_IMAGE, DEFAULT_HELPER_PATH
from webhook.core.plan import OnInvalid

MiB = 1024 * 1024
LogFormat = Literal["json", "human"]
LogLevel = Literal["debug", "info", "warning", "error"]
PreviewMode = Literal["on", "off"]


@dataclass(frozen=True, slots=True)
class ServeConfig:
    host: str = "0.0.0.0"
    port: int = 8443
    tls_cert: str = "certs/tls.crt"
    tls_key: str = "certs/tls.key"
    generate_dev_certs: bool = False
    rules: str | None = None
    workers: int = 1
    on_invalid: OnInvalid = "deny"
    own_namespace: str = "workerguard"
    max_body_bytes: int = 3 * MiB
    body_timeout: float = 10.0
    reload_interval: float = 2.0
    drain_seconds: float = 5.0
    shutdown_timeout: float = 10.0
    keepalive_timeout: float = 30.0
    log_format: LogFormat = "json"
    log_level: LogLevel = "info"
    probe_helper_image: str = DEFAULT_HELPER_IMAGE
    probe_helper_path: str = DEFAULT_HELPER_PATH
    preview: PreviewMode = "on"
    preview_workers: int = 1
    preview_timeout: float = 30.0


_DEFAULTS = ServeConfig()

# flag, type, help (the default comes from ServeConfig, and WORKERGUARD_<FLAG> overrides that)
_FLAGS: list[tuple[str, Any, str]] = [
    ("host", str, "address to listen on"),
    ("port", int, "TLS port"),
    ("tls-cert", str, "serving certificate (PEM); reloaded when it changes"),
    ("tls-key", str, "serving key (PEM); reloaded when it changes"),
    ("rules", str, "rules file (YAML); reloaded when it changes; default: built-in profiles"),
    ("workers", int, "worker processes"),
    ("on-invalid", list(get_args(OnInvalid)), "deny an opted-in pod with invalid settings, or admit it untouched"),
    ("own-namespace", str, "the webhook's own namespace, never mutated"),
    ("max-body-bytes", int, "largest request body accepted (413 beyond)"),
    ("body-timeout", float, "seconds allowed to receive a request body"),
    ("reload-interval", float, "seconds between checks of the certificate and rules files"),
    ("drain-seconds", float, "after SIGTERM, seconds to keep answering (readyz 503, Connection: close)"),
    ("shutdown-timeout", float, "after draining, seconds to let in-flight requests finish"),
    ("keepalive-timeout", float, "seconds an idle keep-alive connection stays open"),
    ("log-format", list(get_args(LogFormat)), "one JSON object per line, or text for people"),
    ("log-level", list(get_args(LogLevel)), "least severe level logged"),
    ("probe-helper-image", str, "image whose static busybox probe-shell: bundled copies into the pod"),
    ("probe-helper-path", str, "path of that static busybox inside the helper image"),
    ("preview", list(get_args(PreviewMode)), "serve POST /preview and the preview page (off: 404, nothing parsed)"),
    ("preview-workers", int, "processes that answer previews, apart from admission"),
    ("preview-timeout", float, "seconds a preview may compute before its worker is replaced"),
]


def _attr(flag: str) -> str:
    return flag.replace("-", "_")


def _env(flag: str) -> str:
    """The environment variable that stands for a flag: --tls-cert is WORKERGUARD_TLS_CERT."""
    return "WORKERGUARD_" + _attr(flag).upper()


def add_serve_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """The flags, each defaulting to its WORKERGUARD_* variable in `environ` (the process's by default)."""
    environ = os.environ if environ is None else environ
    for flag, kind, help_text in _FLAGS:
        env = _env(flag)
        default = environ.get(env, getattr(_DEFAULTS, _attr(flag)))
        options: dict[str, Any] = {"default": default, "help": f"{help_text} (env {env}; default %(default)s)"}
        if isinstance(kind, list):
            options["choices"] = kind
        else:
            options["type"] = kind
        parser.add_argument(f"--{flag}", **options)
    env = _env("generate-dev-certs")
    parser.add_argument(
        "--generate-dev-certs",
        action="store_true",
        default=environ.get(env, "") == "true",
        help=f"write a localhost CA and pair to the --tls-cert/--tls-key paths if they are missing (env {env}=true)",
    )


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    values: dict[str, Any] = {}
    for flag, kind, _ in _FLAGS:
        value = getattr(args, _attr(flag))
        if isinstance(kind, list):
            # argparse converts text defaults (our WORKERGUARD_* values) with `type`, but never checks
            # a default against `choices`.
            if value not in kind:
                raise ConfigError(f"{_env(flag)}={value!r}: choose from {', '.join(kind)}")
        elif value is not None:
            value = kind(value)
        values[_attr(flag)] = value
    return ServeConfig(**values, generate_dev_certs=args.generate_dev_certs)
