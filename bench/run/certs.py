"""A throwaway certificate authority and a server certificate signed by it, made per run (the
`cryptography` package): the servers get --tls-cert/--tls-key, every client the CA to verify them
with (ghz --cacert, vegeta -root-certs, grpcurl -cacert, the bench's own openloop --cacert, Python's
ssl and grpc). hey cannot be given a CA: it never verifies (InsecureSkipVerify), which bench/README.md
says.

The server certificate is valid for SERVER_NAME, 127.0.0.1, ::1 and any other addresses asked for
(the network stage's namespace link), for a day; the keys are ECDSA P-256 (what a TLS 1.3 server
offers today) and never leave the run's directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass

SERVER_NAME = "localhost"


@dataclass(frozen=True)
class Certs:
    ca: str  # the CA certificate (PEM): what clients trust
    cert: str  # the server certificate (PEM)
    key: str  # its private key (PEM, PKCS#8)

    def server_flags(self) -> list[str]:
        """The flags that put a server (either language) on TLS with this certificate."""
        return ["--tls-cert", self.cert, "--tls-key", self.key]


def make(directory: str, addresses: tuple[str, ...] = ()) -> Certs:
    """Write ca.pem, server.pem and server.key into `directory`; the server certificate is valid
    for SERVER_NAME, the loopback addresses and `addresses` (IPs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "servebench throwaway CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    ips = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", *addresses)}
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME), *map(x509.IPAddress, sorted(ips, key=str))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = Certs(
        ca=os.path.join(directory, "ca.pem"),
        cert=os.path.join(directory, "server.pem"),
        key=os.path.join(directory, "server.key"),
    )
    _write(out.ca, ca.public_bytes(serialization.Encoding.PEM))
    _write(out.cert, cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(out.key, pem, mode=0o600)
    return out


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
