"""PID → pod UID through `/proc/<pid>/cgroup`: how a local GPU process is tied to its pod.

The kubelet puts every container in a cgroup under its pod's: `kubepods/burstable/pod<uid>/<id>` with
the cgroupfs driver, `kubepods-burstable-pod<uid_with_underscores>.slice` with the systemd driver,
on cgroup v1 and v2 alike. The UID pattern is strict (8-4-4-4-12 hex) so that words such as
"podman" never match. The `/proc` root is injectable for tests and for containers that mount the
host's proc elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?![0-9a-f])")


def pod_uid_from_cgroup(text: str) -> str | None:
    """The pod UID named in a cgroup file's text, dashed; None when the process is not in a pod."""
    for line in text.splitlines():
        m = _POD_UID.search(line.rpartition(":")[2] if line.count(":") >= 2 else line)
        if m:
            return m.group(1).replace("_", "-")
    return None


class PodUidResolver:
    """Reads `<root>/<pid>/cgroup`. A process that is gone or unreadable maps to None, never raises."""

    def __init__(self, root: str | Path = "/proc") -> None:
        self.root = Path(root)

    def __call__(self, pid: int) -> str | None:
        try:
            text = (self.root / str(int(pid)) / "cgroup").read_text(errors="replace")
        except (OSError, ValueError):
            return None
        return pod_uid_from_cgroup(text)
