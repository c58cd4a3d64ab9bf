"""A CA and a serving certificate signed by it (ECDSA P-256), as PEM bytes; checking a pair on disk."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_SANS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class CertBundle:
    ca_cert: bytes
    tls_cert: bytes
    tls_key: bytes


def service_sans(service: str, namespace: str, extra: Sequence[str] = ()) -> list[str]:
    """The names the apiserver may dial a Service by, then any extras, without duplicates."""
    names = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", *extra]
    return list(dict.fromkeys(names))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "workerguard"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def make_bundle(common_name: str, sans: Sequence[str], days: int = 365, now: datetime.datetime | None = None) -> CertBundle:
    if not sans:
        raise ValueError("a serving certificate needs at least one subject alternative name")
    now = now or datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"workerguard CA for {common_name}"[:64])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name[:64]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in sans]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = serialization.Encoding.PEM
    return CertBundle(ca_cert.public_bytes(pem), cert.public_bytes(pem), key_pem)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def dev_bundle(days: int = 365) -> CertBundle:
    """A pair for local development: localhost, 127.0.0.1 and ::1."""
    return make_bundle("localhost", DEV_SANS, days)


@dataclass(frozen=True, slots=True)
class PairInfo:
    serial: int
    not_after: datetime.datetime
    key_matches: bool
    sans: list[str]

    def days_left(self, now: datetime.datetime | None = None) -> float:
        now = now or datetime.datetime.now(datetime.UTC)
        return (self.not_after - now).total_seconds() / 86400


def inspect_pair(cert_pem: bytes, key_pem: bytes) -> PairInfo:
    """Parse a certificate and key; ValueError when either is not readable PEM."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    matches = cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(name.value) for name in san]
    except x509.ExtensionNotFound:
        sans = []
    return PairInfo(cert.serial_number, cert.not_valid_after_utc, matches, sans)
