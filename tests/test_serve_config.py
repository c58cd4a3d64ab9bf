"""`workerguard serve` options: flags, WORKERGUARD_* variables, and the dev certificates make serve relies on."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import Server
from webhook.server.config import _FLAGS, add_serve_arguments, config_from_args, ServeConfig


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServeConfig:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser, environ or {})
    return config_from_args(parser.parse_args(argv))


def test_defaults_are_the_documented_ones() -> None:
    config = parse([])
    assert (config.host, config.port, config.tls_cert, config.tls_key, config.rules) == (
        "0.0.0.0",
        8443,
        "certs/tls.crt",
        "certs/tls.key",
        None,
    )
    assert (config.workers, config.on_invalid, config.max_body_bytes) == (1, "deny", 3 * 1024 * 1024)


def test_every_flag_can_come_from_the_environment_and_a_flag_wins() -> None:
    environ = {
        "WORKERGUARD_PORT": "9443",
        "WORKERGUARD_ON_INVALID": "allow",
        "WORKERGUARD_DRAIN_SECONDS": "7.5",
        "WORKERGUARD_RULES": "/etc/workerguard/rules/rules.yaml",
        "WORKERGUARD_GENERATE_DEV_CERTS": "true",
    }
    config = parse(["--drain-seconds", "3"], environ)
    assert (config.port, config.on_invalid, config.drain_seconds, config.rules) == (
        9443,
        "allow",
        3.0,
        "/etc/workerguard/rules/rules.yaml",
    )
    assert config.generate_dev_certs is True
    assert {flag for flag, _, _ in _FLAGS} == {name.replace("_", "-") for name in ServeConfig.__dataclass_fields__} - {
        "generate-dev-certs"
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKERGUARD_ON_INVALID", "maybe", "WORKERGUARD_ON_INVALID='maybe': choose from deny, allow"),
        ("WORKERGUARD_PORT", "https", "argument --port: invalid int value: 'https'"),
    ],
)
def test_a_bad_environment_value_is_a_usage_error_not_a_traceback(variable: str, value: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webhook", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, variable: value},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(message)


def test_generate_dev_certs_makes_a_localhost_pair_and_serves_it(tmp_path: Path) -> None:
    certs = tmp_path / "fresh-certs"
    server = Server(tmp_path, "--generate-dev-certs", cert_dir=certs, write_certs=False)
    assert not certs.exists()
    with server, server.client() as client:
        assert client.get("/healthz").status_code == 200  # verified against the generated ca.crt
    assert stat.S_IMODE(os.stat(certs / "tls.key").st_mode) == 0o600
    assert "generated a development CA and certificate for localhost" in server.log()
