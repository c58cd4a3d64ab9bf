"""Certificates: the chain and SANs parsed back and checked by openssl, file modes, --check."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from webhook.adapters.certs import inspect_pair, make_bundle, service_sans


def workerguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webhook", *args], capture_output=True, text=True, timeout=60)


def test_service_sans_cover_every_name_the_apiserver_may_dial() -> None:
    assert service_sans("wg", "ops", ["wg.example.com", "wg"]) == [
        "wg",
        "wg.ops",
        "wg.ops.svc",
        "wg.ops.svc.cluster.local",
        "wg.example.com",
    ]


def test_the_bundle_is_a_ca_and_a_serving_certificate_it_signed() -> None:
    bundle = make_bundle("wg.ops.svc", service_sans("wg", "ops", ["10.0.0.7"]), days=30)
    ca = x509.load_pem_x509_certificate(bundle.ca_cert)
    cert = x509.load_pem_x509_certificate(bundle.tls_cert)
    ca_constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_constraints.critical and ca_constraints.value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp256r1"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["wg", "wg.ops", "wg.ops.svc", "wg.ops.svc.cluster.local"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30)
    assert inspect_pair(bundle.tls_cert, bundle.tls_key).key_matches


def test_certs_command_writes_files_openssl_verifies_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    done = workerguard("certs", "--service", "workerguard", "--namespace", "workerguard", "--out", str(out), "--san", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(out / "tls.key").st_mode) == 0o600
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of Debian's base system"
    verified = subprocess.run(
        [openssl, "verify", "-CAfile", str(out / "ca.crt"), "-purpose", "sslserver", str(out / "tls.crt")],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr
    text = subprocess.run(
        [openssl, "x509", "-in", str(out / "tls.crt"), "-noout", "-ext", "subjectAltName"], capture_output=True, text=True
    ).stdout
    assert "DNS:workerguard.workerguard.svc.cluster.local" in text and "IP Address:127.0.0.1" in text
    before = (out / "tls.crt").read_bytes()
    again = workerguard("certs", "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr
    assert (out / "tls.crt").read_bytes() == before
    assert workerguard("certs", "--out", str(out), "--force").returncode == 0
    assert (out / "tls.crt").read_bytes() != before


def test_certs_check_reports_expiry_and_fails_inside_the_threshold(tmp_path: Path) -> None:
    assert workerguard("certs", "--dev", "--out", str(tmp_path), "--days", "10").returncode == 0
    ok = workerguard("certs", "--check", str(tmp_path), "--threshold-days", "5")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith(f"{tmp_path}: ok; expires") and "key matches: True" in ok.stdout
    assert "(10.0 days)" in ok.stdout or "(9.9 days)" in ok.stdout
    soon = workerguard("certs", "--check", str(tmp_path), "--threshold-days", "30")
    assert soon.returncode == 1
    assert soon.stdout.startswith(f"{tmp_path}: FAIL: expires in ") and "sooner than the 30-day threshold" in soon.stdout


def test_certs_check_fails_when_key_and_certificate_do_not_belong_together(tmp_path: Path) -> None:
    first, second = make_bundle("a", ["a"]), make_bundle("b", ["b"])
    (tmp_path / "tls.crt").write_bytes(first.tls_cert)
    (tmp_path / "tls.key").write_bytes(second.tls_key)
    done = workerguard("certs", "--check", str(tmp_path))
    assert done.returncode == 1 and done.stdout.startswith(f"{tmp_path}: FAIL: tls.key does not belong to tls.crt; ")
    missing = workerguard("certs", "--check", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and missing.stdout.startswith(f"{tmp_path / 'nowhere'}: FAIL: cannot read the pair")


def test_cluster_certificates_go_to_a_directory_of_their_own_and_leave_the_dev_pair(tmp_path: Path) -> None:
    dev = subprocess.run([sys.executable, "-m", "webhook", "certs", "--dev"], cwd=tmp_path, capture_output=True, text=True)
    cluster = subprocess.run([sys.executable, "-m", "webhook", "certs"], cwd=tmp_path, capture_output=True, text=True)
    assert (dev.returncode, cluster.returncode) == (0, 0), cluster.stderr
    assert (tmp_path / "certs" / "tls.crt").exists() and (tmp_path / "certs" / "cluster" / "tls.crt").exists()
    assert (tmp_path / "certs" / "tls.crt").read_bytes() != (tmp_path / "certs" / "cluster" / "tls.crt").read_bytes()
