"""What an action says when it will not (or could not) go ahead.

One exception type carries every problem at once, so a form or the CLI can show the whole list instead of
making the operator fix one field per attempt.
"""

from __future__ import annotations

from console.kube.errors import ApiError


class ActionError(Exception):
    """An action refused or failed; `problems` lists every reason, each saying what and why."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def outcome_unknown(e: ApiError) -> bool:
    """A request that was sent but never answered (a read timeout): it may or may not have been applied."""
    return e.outcome_unknown


def explain_api_error(e: ApiError, doing: str) -> str:
    """An API failure in the operator's words: what was being done, and what the server (or its absence) said."""
    if outcome_unknown(e):
        return (f"{doing}: {e.message}; the server may still carry it out, so look before trying again")
    if e.unreachable:
        return f"{doing}: {e.message}; nothing was changed by this step"
    if e.explained:
        return f"{doing}: {e.message}"
    if e.code == 403:
        return f"{doing}: forbidden: {e.message}"
    if e.code == 404:
        return f"{doing}: not found: {e.message}"
    if e.code == 409:
        return f"{doing}: already exists or changed meanwhile: {e.message}"
    if e.code == 422 or e.code == 400:
        causes = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in e.causes)
        return f"{doing}: rejected by the server: {e.message}" + (f" ({causes})" if causes else "")
    if e.code == 429:
        causes = "; ".join(str(c.get("message", "")) for c in e.causes if c.get("message"))
        return f"{doing}: refused for now (429 {e.reason}): {e.message}" + (f" {causes}" if causes else "")
    if e.code >= 500:
        return f"{doing}: the server failed ({e.code} {e.reason}): {e.message}"
    return f"{doing}: {e}"
