"""Why the API server could not be reached, in words: one sentence naming the server, context and file.

httpx wraps httpcore, which wraps the socket and ssl errors; the cause is found by walking the chain.
The sentences are what `gpuconsole snapshot`, the CLI verbs and the console's header show, e.g.
`cannot reach https://10.0.0.1:6443 (context prod from ~/.kube/prod.yaml): connection refused`.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import ApiError

# OpenSSL's X509_V_ERR_* codes (include/openssl/x509_vfy.h.in) as ssl.SSLCertVerificationError.verify_code.
UNTRUSTED = {2, 18, 19, 20, 21, 27}  # unable to get issuer, self-signed (in chain), unable to verify leaf, untrusted
NOT_YET_VALID, EXPIRED = 9, 10
HOST_MISMATCH = {62, 64}            # hostname mismatch, IP address mismatch
# Transport kinds that no retry can mend: nothing more is sent after them.
FINAL = frozenset({"tls"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__]
        if isinstance(e, BaseExceptionGroup):
            stack += list(e.exceptions)


def _host(server: str) -> str:
    return urlsplit(server).hostname or server


def _maybe_cert(creds: Any, first: bool = True) -> str:
    """A server that drops a handshake without an alert (asyncio's TLS does; under TLS 1.3 the client sees it
    only at its first read) may be refusing our certificate: said only before the server ever answered."""
    mine = getattr(creds, "cert_from", "") if getattr(creds, "cert_file", None) and first else ""
    return f" (it may not accept the client certificate, {mine})" if mine else ""


def _tls_cause(e: ssl.SSLError, creds: Any, first: bool) -> str:
    host = _host(creds.server)
    if isinstance(e, ssl.SSLCertVerificationError):
        code = e.verify_code
        if code in UNTRUSTED:
            trusted = getattr(creds, "ca_from", "") or "the system's trusted certificate authorities"
            return f"the server's certificate is not signed by a certificate authority this client trusts ({trusted})"
        if code == EXPIRED:
            return "the server's certificate has expired (or this machine's clock is wrong)"
        if code == NOT_YET_VALID:
            return "the server's certificate is not valid yet (or this machine's clock is wrong)"
        if code in HOST_MISMATCH:
            return f"the server's certificate is not issued for {host} (it names other hosts)"
        return f"the server's certificate failed verification: {e.verify_message}"
    reason = (e.reason or "").upper()
    if isinstance(e, ssl.SSLEOFError) or "UNEXPECTED_EOF" in reason:
        return "the server closed the connection during the TLS handshake" + _maybe_cert(creds, first)
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason or "PACKET_LENGTH_TOO_LONG" in reason:
        return "the server does not speak TLS on this port (is the server's URL http rather than https?)"
    if any(k in reason for k in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "CERTIFICATE_UNKNOWN",
                                 "UNSUPPORTED_CERTIFICATE", "CERTIFICATE_EXPIRED", "ACCESS_DENIED")):
        mine = getattr(creds, "cert_from", "")
        return f"the server refused the client certificate ({mine})" if mine else \
            "the server requires a client certificate and none is set"
    return f"the TLS handshake failed ({(e.reason or str(e)).lower().replace('_', ' ')})"


def classify(exc: BaseException, creds: Any, timeout: float | None = None, first: bool = False) -> tuple[str, str]:
    """(kind, cause in words) for a failed request; kind is one of tls, tls-eof, dns, refused, connect-timeout,
    read-timeout, dropped, unreachable. `first`: the server has not answered this client yet."""
    secs = f" within {timeout:g} s" if timeout else ""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect-timeout", f"no answer{secs} while connecting"
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return "read-timeout", f"no answer{secs}"
    if isinstance(exc, httpx.PoolTimeout):
        return "connect-timeout", "every connection to the server stayed busy"
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, ssl.SSLError) and not isinstance(e, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
            # a handshake cut short may be a restarting server: worth a retry, unlike a certificate
            eof = isinstance(e, ssl.SSLEOFError) or "UNEXPECTED_EOF" in (e.reason or "").upper()
            return ("tls-eof" if eof else "tls"), _tls_cause(e, creds, first)
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "dns", f"the host name {_host(creds.server)} does not resolve ({e.strerror or e})"
        if isinstance(e, ConnectionRefusedError):
            return "refused", "connection refused"
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable", f"no route to {_host(creds.server)}"
        if isinstance(e, (ConnectionResetError, BrokenPipeError)):
            return "dropped", "the server reset the connection" + _maybe_cert(creds, first)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "dropped", "the server closed the connection before answering" + _maybe_cert(creds, first)
    text = str(exc) or type(exc).__name__
    return "unreachable", text[0].lower() + text[1:]


def unreachable(exc: BaseException, creds: Any, *, method: str = "", path: str = "", timeout: float | None = None,
                first: bool = False, watch: bool = False) -> ApiError:
    """An ApiError (code 0) whose message is the whole sentence; `watch`: an open watch that broke off."""
    kind, cause = classify(exc, creds, timeout, first)
    where = getattr(creds, "where", "")
    at = f"{creds.server} ({where})" if where else creds.server
    if watch and kind in ("dropped", "read-timeout"):
        cause = cause.replace(" before answering", "")
        msg = f"the watch of {path} on {at} broke off: {cause}"
    elif kind in ("tls", "tls-eof"):
        msg = f"cannot connect securely to {at}: {cause}"
    elif kind == "read-timeout":
        msg = f"{at} did not answer {method} {path}: {cause}" if method else f"{at} did not answer: {cause}"
    elif kind == "dropped" and method:
        msg = f"{at} dropped {method} {path}: {cause}"
    else:
        msg = f"cannot reach {at}: {cause}"
    return ApiError(0, "Unreachable", msg, method=method, path=path, transport=kind)


def unauthorized(e: ApiError, creds: Any) -> ApiError:
    """A 401 in words: whose credentials, of which kind, from which context."""
    where = getattr(creds, "where", "")
    at = f"{creds.server} ({where})" if where else creds.server
    user = f" of user {creds.user}" if getattr(creds, "user", "") else ""
    kind = getattr(creds, "auth_kind", "credentials")
    if kind == "no credentials":
        msg = f"{at} requires credentials and none are set{user} (401 Unauthorized)"
    else:
        msg = f"{at} rejected the {kind}{user} (401 Unauthorized: the credentials are wrong, expired or revoked)"
    return ApiError(401, e.reason, msg, details=e.details, method=e.method, path=e.path, explained=True)
