"""`workerguard certs`: write a CA and serving pair to a directory, or check one."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from webhook.adapters.certs import CertBundle, DEV_SANS, inspect_pair, make_bundle, service_sans

CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
# The cluster's pair has a directory of its own, so it never overwrites the pair `make serve` uses.
CLUSTER_DIR, DEV_DIR = "certs/cluster", "certs"


def add_certs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", default="workerguard", help="the webhook's Service name")
    parser.add_argument("--namespace", default="workerguard", help="the webhook's namespace")
    parser.add_argument(
        "--out", help=f"directory to write ca.crt, tls.crt, tls.key into (default {CLUSTER_DIR}; with --dev, {DEV_DIR})"
    )
    parser.add_argument("--days", type=int, default=365, help="validity in days")
    parser.add_argument("--san", action="append", default=[], help="an extra DNS name or IP (repeatable)")
    parser.add_argument("--dev", action="store_true", help=f"a local development pair for {', '.join(DEV_SANS)}")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--check", metavar="DIR", help="report expiry and key match of DIR/tls.crt and DIR/tls.key")
    parser.add_argument("--threshold-days", type=float, default=30, help="with --check: fail when expiring sooner")
    parser.set_defaults(run=run_certs)


def write_bundle(directory: Path, bundle: CertBundle, force: bool = False) -> list[Path]:
    """Write the three files; refuse to overwrite any unless forced. The key is created 0600."""
    paths = [directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE]
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist; pass --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for path, data, mode in zip(paths, (bundle.ca_cert, bundle.tls_cert, bundle.tls_key), (0o644, 0o644, 0o600), strict=True):
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    return paths


def run_certs(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if args.check:
        return check_directory(Path(args.check), args.threshold_days, stdout)
    if args.days < 1:
        print("workerguard: --days must be at least 1", file=sys.stderr)
        return 2
    if args.dev:
        bundle = make_bundle("localhost", [*DEV_SANS, *args.san], args.days)
    else:
        sans = service_sans(args.service, args.namespace, args.san)
        bundle = make_bundle(f"{args.service}.{args.namespace}.svc", sans, args.days)
    try:
        paths = write_bundle(Path(args.out or (DEV_DIR if args.dev else CLUSTER_DIR)), bundle, args.force)
    except (FileExistsError, OSError) as error:
        print(f"workerguard: {error}", file=sys.stderr)
        return 1
    print(f"wrote {', '.join(map(str, paths))}", file=stdout)
    return 0


def check_directory(directory: Path, threshold_days: float, stdout: TextIO) -> int:
    try:
        info = inspect_pair((directory / CERT_FILE).read_bytes(), (directory / KEY_FILE).read_bytes())
    except (OSError, ValueError) as error:
        print(f"{directory}: FAIL: cannot read the pair: {error}", file=stdout)
        return 1
    days = info.days_left()
    failures = []
    if not info.key_matches:
        failures.append("tls.key does not belong to tls.crt")
    if days < threshold_days:
        failures.append(f"expires in {days:.1f} days, sooner than the {threshold_days:g}-day threshold")
    verdict = f"FAIL: {'; '.join(failures)}" if failures else "ok"
    print(
        f"{directory}: {verdict}; expires {info.not_after:%Y-%m-%d} ({days:.1f} days); key matches: {info.key_matches}; "
        f"SANs: {', '.join(info.sans)}",
        file=stdout,
    )
    return 1 if failures else 0
