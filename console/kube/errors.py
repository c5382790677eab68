"""One typed error for everything the API server (or the path to it) can say no with."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call: the `Status` reason and message when the server sent one.

    `code` 0 means the server was never reached (connection refused, DNS, TLS, timeout), or stopped
    answering; `transport` then says which (see `reach.classify`) and `message` is a whole sentence naming
    the server, the context and its file. `explained` marks a message that is such a sentence for another
    code (a 401 names whose credentials were refused).
    """

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: float | None = None, method: str = "", path: str = "", transport: str = "",
                 explained: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after
        self.method = method
        self.path = path
        self.transport = transport
        self.explained = explained or code == 0

    @property
    def causes(self) -> list[dict[str, str]]:
        return list(self.details.get("causes") or [])

    @property
    def unreachable(self) -> bool:
        return self.code == 0

    @property
    def outcome_unknown(self) -> bool:
        """Sent but never answered (a read timeout, a dropped connection): it may have been applied."""
        return self.code == 0 and self.transport in ("read-timeout", "dropped")

    def __str__(self) -> str:
        if self.explained:
            return self.message
        return f"{self.code} {self.reason}: {self.message}"

    @classmethod
    def from_status(cls, code: int, body: Any, *, method: str = "", path: str = "",
                    retry_after: float | None = None) -> "ApiError":
        if isinstance(body, dict) and body.get("kind") == "Status":
            return cls(int(body.get("code") or code), str(body.get("reason") or "Unknown"),
                       str(body.get("message") or ""), details=body.get("details") or {},
                       retry_after=retry_after, method=method, path=path)
        text = body if isinstance(body, str) else ""
        return cls(code, _REASONS.get(code, "Unknown"), text.strip()[:500] or f"HTTP {code}",
                   retry_after=retry_after, method=method, path=path)


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
            429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
            504: "Timeout"}
