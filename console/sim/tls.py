"""Certificates for the simulated cluster: a CA made at start, the server's certificate, users' client certificates.

Made with `cryptography` (ECDSA P-256 keys: a few milliseconds each, and kubectl, Go and OpenSSL all accept
them). A client certificate names its user as kube-apiserver reads one: the subject's CommonName is the
user name and each Organization is a group (see "X509 client certificates" in the Kubernetes
authentication docs). For tests, the server's certificate can be made wrong on purpose: expired, not yet
valid, or for another host name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PROBLEMS = ("", "expired", "not-yet-valid", "wrong-host")
WRONG_HOST = "not-this-server.invalid"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class CertificateAuthority:
    """A self-signed CA that signs the server's and the users' certificates."""

    def __init__(self, name: str = "gpuconsole-sim-ca", days: int = 365) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(self._key.public_key())
        self._cert = (x509.CertificateBuilder()
                      .subject_name(subject).issuer_name(subject)
                      .public_key(self._key.public_key())
                      .serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(hours=1))
                      .not_valid_after(now + dt.timedelta(days=days))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                      .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                   key_encipherment=False, data_encipherment=False,
                                                   key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                   encipher_only=False, decipher_only=False), critical=True)
                      .add_extension(ski, critical=False)
                      .sign(self._key, hashes.SHA256()))
        self.cert_pem = self._cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, organizations: Sequence[str] = (), hosts: Sequence[str] = (),
              client: bool = False, not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> Issued:
        """A leaf certificate: for a server (`hosts` become its subject alternative names) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name(attrs)).issuer_name(self._cert.subject)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(not_before or now - dt.timedelta(hours=1))
             .not_valid_after(not_after or now + dt.timedelta(days=365))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                   else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                            critical=False))
        if hosts:
            b = b.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        cert = b.sign(self._key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def issue_client(self, user: str, groups: Sequence[str] = ()) -> Issued:
        """A client certificate for `user` in `groups`, as kube-apiserver maps CN and O."""
        return self.issue(user, organizations=groups, client=True)


def server_hosts(host: str) -> list[str]:
    """The names a server certificate for `host` lists: the address, and loopback's names for a loopback or
    every-address bind."""
    names = [host]
    if host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1", ""):
        names += ["127.0.0.1", "localhost", "::1"]
    return list(dict.fromkeys(n for n in names if n and n not in ("0.0.0.0", "::")))


@dataclass
class ServerTLS:
    """What an HTTPS simulator serves with: its CA (trusted by kubeconfigs, and for client certificates)
    and its certificate."""

    ca: CertificateAuthority
    cert: Issued
    problem: str = ""

    def ssl_context(self) -> ssl.SSLContext:
        """Server side: our certificate; a client certificate is optional and, when sent, must be our CA's."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        d = tempfile.mkdtemp(prefix="gpuconsole-sim-tls-")
        try:  # the ssl module loads certificates only from files; they live just long enough to be read
            cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
            with open(cert, "wb") as f:
                f.write(self.cert.cert_pem)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.cert.key_pem)
            ctx.load_cert_chain(cert, key)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        ctx.load_verify_locations(cadata=self.ca.cert_pem.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx


def server_tls(host: str = "127.0.0.1", *, ca: CertificateAuthority | None = None, problem: str = "") -> ServerTLS:
    """A CA and a server certificate for `host`; `problem` makes the certificate wrong on purpose (tests)."""
    if problem not in PROBLEMS:
        raise ValueError(f"unknown certificate problem {problem!r}; one of {', '.join(p for p in PROBLEMS if p)}")
    ca = ca or CertificateAuthority()
    now = _now()
    hosts = server_hosts(host)
    before = after = None
    if problem == "expired":
        before, after = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
    elif problem == "not-yet-valid":
        before, after = now + dt.timedelta(days=1), now + dt.timedelta(days=30)
    elif problem == "wrong-host":
        hosts = [WRONG_HOST]
    cert = ca.issue("gpuconsole-sim-apiserver", hosts=hosts, not_before=before, not_after=after)
    return ServerTLS(ca, cert, problem)
