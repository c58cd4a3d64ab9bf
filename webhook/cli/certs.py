"""`workerguard certs`: write a CA and serving pair to a directory, or check one."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from webhook.adapters.certs import CertBundle, DEV_SANS, inspect_pair, make_bundle, PairInfo, service_sans
from webhook.adapters.documents import os_error_reason
from webhook.cli.common import exit_codes, EXIT_JUDGED, EXIT_OK, EXIT_UNUSABLE, report
from webhook.core.errors import CertificateError, InputError

CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
# The cluster's pair has a directory of its own, so it never overwrites the pair `make serve` uses.
CLUSTER_DIR, DEV_DIR = "certs/cluster", "certs"

CERTS_EPILOG = """With --check DIR, stdout has one line: DIR: ok or FAIL, the expiry, whether the key matches,
the SANs; a failing check also says so on stderr.

""" + exit_codes(
    (EXIT_OK, "the files were written; with --check, the pair is usable and outside the threshold"),
    (
        EXIT_JUDGED,
        "with --check, the pair fails: missing or unreadable, a key that is not the certificate's, or expiring within "
        "--threshold-days; without it, the files exist and --force was not given (nothing is overwritten)",
    ),
    (EXIT_UNUSABLE, "the directory cannot be written (stderr says which file and why), or a usage error"),
)


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
    """Write the three files; refuse to overwrite any unless forced (FileExistsError). The key is created
    0600. InputError naming the file when the directory cannot be written."""
    paths = [directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE]
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist; pass --force to overwrite")
    target = directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for target, data, mode in zip(
            paths, (bundle.ca_cert, bundle.tls_cert, bundle.tls_key), (0o644, 0o644, 0o600), strict=True
        ):
            target.unlink(missing_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
    except OSError as error:
        raise InputError(f"cannot write: {os_error_reason(error)}", str(target)) from None
    return paths


def read_pem(path: Path) -> bytes:
    """A PEM file's bytes; CertificateError ('certs/tls.crt: no such file') when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateError(os_error_reason(error), str(path)) from None


def read_pair(cert_path: Path, key_path: Path) -> tuple[bytes, bytes, PairInfo]:
    """A certificate, its key and what they hold; CertificateError naming the file that cannot be read,
    or both when they are not a PEM certificate and an unencrypted private key."""
    cert, key = read_pem(cert_path), read_pem(key_path)
    try:
        return cert, key, inspect_pair(cert, key)
    except ValueError:
        message = "not a PEM certificate and its unencrypted private key"
        raise CertificateError(message, f"{cert_path} and {key_path}") from None


def run_certs(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if args.check:
        return check_directory(Path(args.check), args.threshold_days, stdout)
    if args.days < 1:
        raise InputError("--days must be at least 1")
    if args.dev:
        bundle = make_bundle("localhost", [*DEV_SANS, *args.san], args.days)
    else:
        sans = service_sans(args.service, args.namespace, args.san)
        bundle = make_bundle(f"{args.service}.{args.namespace}.svc", sans, args.days)
    try:
        paths = write_bundle(Path(args.out or (DEV_DIR if args.dev else CLUSTER_DIR)), bundle, args.force)
    except FileExistsError as error:
        report(str(error))
        return EXIT_JUDGED
    print(f"wrote {', '.join(map(str, paths))}", file=stdout)
    return EXIT_OK


def check_directory(directory: Path, threshold_days: float, stdout: TextIO) -> int:
    """One line on stdout, ok or FAIL; a FAIL is said on stderr too. A pair that cannot be read fails the
    check (exit 1), as one that expires does: the check's question is whether DIR holds a usable pair."""
    try:
        _, _, info = read_pair(directory / CERT_FILE, directory / KEY_FILE)
    except CertificateError as error:
        return _failed(directory, f"cannot read the pair: {error}", "", stdout)
    days = info.days_left()
    failures = []
    if not info.key_matches:
        failures.append("tls.key does not belong to tls.crt")
    if days < threshold_days:
        failures.append(f"expires in {days:.1f} days, sooner than the {threshold_days:g}-day threshold")
    details = (
        f"; expires {info.not_after:%Y-%m-%d} ({days:.1f} days); key matches: {info.key_matches}; SANs: {', '.join(info.sans)}"
    )
    if failures:
        return _failed(directory, "; ".join(failures), details, stdout)
    print(f"{directory}: ok{details}", file=stdout)
    return EXIT_OK


def _failed(directory: Path, why: str, details: str, stdout: TextIO) -> int:
    print(f"{directory}: FAIL: {why}{details}", file=stdout, flush=True)
    report(f"{directory}: FAIL: {why}")
    return EXIT_JUDGED
