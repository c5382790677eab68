"""PID → pod UID from /proc/<pid>/cgroup, for every cgroup layout the kubelet produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.telemetry.cgroup import PodUidResolver, pod_uid_from_cgroup
from console.telemetry.fake_nvml import cgroup_text

UID = "0f6c2a4e-1b9d-4c3e-8a7f-5d2b1e0c9a88"


@pytest.mark.parametrize("text", [
    # cgroup v1, cgroupfs driver (one line per controller)
    f"12:memory:/kubepods/burstable/pod{UID}/4f1c0e5b9a\n11:cpu,cpuacct:/kubepods/burstable/pod{UID}/4f1c0e5b9a\n",
    # cgroup v1, guaranteed QoS has no QoS level in the path
    f"4:devices:/kubepods/pod{UID}/e3b0c44298fc1c149afbf4c8996fb924\n",
    # cgroup v2, systemd driver: dashes become underscores
    f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID.replace('-', '_')}.slice/"
    "cri-containerd-9f86d081884c7d659a2feaa0c55ad015.scope\n",
    # CRI-O
    f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice/"
    "crio-2c26b46b68ffc68ff99b453c1d304134.scope\n",
    # nested under a kind/docker node
    f"0::/docker/3e2f/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{UID.replace('-', '_')}.slice/x\n",
    cgroup_text(UID),
])
def test_pod_uid_in_every_layout(text: str) -> None:
    assert pod_uid_from_cgroup(text) == UID


@pytest.mark.parametrize("text", [
    "0::/system.slice/nvidia-persistenced.service\n",
    "0::/user.slice/user-1000.slice/session-3.scope\n",
    "0::/machine.slice/libpod-podman-0f6c2a4e.scope\n",        # "pod" followed by no UID
    "0::/kubepods.slice/kubepods-podnot_a_uid.slice\n",
    "",
])
def test_processes_outside_pods(text: str) -> None:
    assert pod_uid_from_cgroup(text) is None


def test_resolver_reads_an_injected_proc_root(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(cgroup_text(UID))
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "cgroup").write_text("0::/init.scope\n")
    resolve = PodUidResolver(tmp_path)
    assert resolve(4242) == UID
    assert resolve(77) is None
    assert resolve(99999) is None            # the process exited between the NVML call and the lookup
