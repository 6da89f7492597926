"""Mutual TLS for the internal gRPC services: a cluster CA and one certificate per role.

Every internal connection (placement, metadata, data node, Raft peers, the background service,
the admin CLI) is TLS with a client certificate, both chained to the cluster CA. A certificate
names its holder's role as the SAN URI `spiffe://cairn/role/<role>` and as the DNS name
`<role>.cairn`; a server reads the caller's role from the URI (cairn.rpc_auth), and a client
that knows which service it dials verifies the server's certificate against `<role>.cairn`, so
a data node's certificate cannot stand in for the metadata service.

A process finds its identity in CAIRN_RPC_CA, CAIRN_RPC_CERT and CAIRN_RPC_KEY (PEM files; the
Helm chart mounts them from a Secret), or is given one with `cairn.rpc.set_identity`. Servers
re-read the three files on the first handshake after any of them changed (mtime or size), so a
renewed certificate is served without a restart; a renewed key and certificate are used only
once they match each other (a half-written pair keeps the previous one). Clients read the files
when they open a channel.

`cairn up` keeps the CA in `<data-dir>/pki/` (`ca.pem`, `ca-key.pem`) with one certificate per
service role, and the admin CLI's certificate next to the credentials file
(`<data-dir>/admin-cert.pem`, `admin-key.pem`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cairn.durable_file import write_atomic

ROLES = ("placement", "metadata", "datanode", "api", "gc", "admin")
ROLE_URI_PREFIX = "spiffe://cairn/role/"
ENV_CA, ENV_CERT, ENV_KEY = "CAIRN_RPC_CA", "CAIRN_RPC_CERT", "CAIRN_RPC_KEY"
CERT_DAYS = 365
CA_DAYS = 3650


def server_name(role: str) -> str:
    """The DNS name every certificate of `role` carries, which clients verify servers against."""
    return f"{role}.cairn"


@dataclass(frozen=True)
class Identity:
    """The PEM files of one process's identity: the CA it trusts, its certificate and key."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_env(cls) -> Identity | None:
        """The identity named by CAIRN_RPC_CA/CERT/KEY, or None if none of them is set
        (ValueError if only some are)."""
        values = [os.environ.get(name) for name in (ENV_CA, ENV_CERT, ENV_KEY)]
        if not any(values):
            return None
        if not all(values):
            raise ValueError(f"set all of {ENV_CA}, {ENV_CERT} and {ENV_KEY}, or none")
        ca, cert, key = (Path(v) for v in values if v)
        return cls(ca, cert, key)

    def env(self) -> tuple[tuple[str, str], ...]:
        """The environment that gives a child process this identity."""
        return ((ENV_CA, str(self.ca)), (ENV_CERT, str(self.cert)), (ENV_KEY, str(self.key)))

    def role(self) -> str | None:
        return role_of(self.cert.read_bytes())

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials that require a client certificate from the CA and follow renewals."""
        reloader = _Reloader(self)
        return grpc.dynamic_ssl_server_credentials(
            reloader.initial(), reloader.fetch, require_client_authentication=True
        )


class _Reloader:
    """Hands gRPC a new certificate configuration when the identity's files changed."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.lock = threading.Lock()
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in (self.identity.ca, self.identity.cert, self.identity.key):
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((0, 0))
        return tuple(out)

    def _load(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            ca = self.identity.ca.read_bytes()
            cert = self.identity.cert.read_bytes()
            key = self.identity.key.read_bytes()
        except OSError:
            return None
        if not key_matches(cert, key):
            return None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def initial(self) -> grpc.ServerCertificateConfiguration:
        config = self._load()
        if config is None:
            raise ValueError(f"{self.identity.cert} and {self.identity.key} are unreadable or do not match")
        return config

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC before each handshake: None keeps the current configuration."""
        with self.lock:
            stamp = self._stamp()
            if stamp == self.stamp:
                return None
            config = self._load()
            if config is not None:
                self.stamp = stamp
            return config


def key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether the private key in `key_pem` belongs to the certificate in `cert_pem`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return False
    return cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def role_of(cert_pem: bytes) -> str | None:
    """The role a certificate names in its `spiffe://cairn/role/<role>` SAN URI, if any."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(ROLE_URI_PREFIX):
            role = uri.removeprefix(ROLE_URI_PREFIX)
            return role if role in ROLES else None
    return None


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(cert_path: Path, key_path: Path, name: str = "Cairn cluster CA") -> None:
    """Write a new self-signed CA certificate and its key (mode 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(key_path, _key_bytes(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def issue(
    ca_cert_path: Path,
    ca_key_path: Path,
    role: str,
    cert_path: Path,
    key_path: Path,
    hosts: Iterable[str] = (),
    days: int = CERT_DAYS,
) -> Identity:
    """Sign a new certificate for `role` (client and server use) and write it with its key.

    The key is written first and the certificate second; servers use a pair only once both
    match, so a reader between the two writes keeps the previous pair."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(ROLE_URI_PREFIX + role),
        x509.DNSName(server_name(role)),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"cairn-{role}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(key_path, _key_bytes(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Identity(ca_cert_path, cert_path, key_path)


def not_after(cert_path: Path) -> datetime.datetime:
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).not_valid_after_utc


@dataclass(frozen=True)
class ClusterPki:
    """The CA and certificate files of a local cluster's data directory."""

    data_dir: Path

    @property
    def directory(self) -> Path:
        return self.data_dir / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    def paths(self, role: str) -> tuple[Path, Path]:
        """(certificate, key) of `role`: the admin's next to credentials.json, the rest in pki/."""
        if role == "admin":
            return self.data_dir / "admin-cert.pem", self.data_dir / "admin-key.pem"
        return self.directory / f"{role}.pem", self.directory / f"{role}-key.pem"

    def identity(self, role: str) -> Identity:
        cert, key = self.paths(role)
        return Identity(self.ca_cert, cert, key)

    def ensure(self, hosts: Iterable[str] = (), renew_within_days: int = 30) -> None:
        """Create the CA if absent, and every role's certificate that is absent, unreadable, or
        expires within `renew_within_days` (renewed in place)."""
        hosts = tuple(hosts)
        self.ensure_ca()
        horizon = _now() + datetime.timedelta(days=renew_within_days)
        for role in ROLES:
            cert, key = self.paths(role)
            try:
                fresh = key.exists() and not_after(cert) > horizon
            except (OSError, ValueError):
                fresh = False
            if not fresh:
                self.renew(role, hosts)

    def ensure_ca(self) -> None:
        """Create the cluster CA unless it exists."""
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            create_ca(self.ca_cert, self.ca_key)

    def renew(self, role: str, hosts: Iterable[str] = ()) -> Identity:
        """Issue `role` a new certificate and key from the cluster CA, in place."""
        cert, key = self.paths(role)
        return issue(self.ca_cert, self.ca_key, role, cert, key, hosts)
