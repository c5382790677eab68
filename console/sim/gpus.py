"""Stable facts about the simulated GPUs: UUIDs and the node labels GPU feature discovery writes."""

from __future__ import annotations

import uuid

_NS = uuid.UUID("6f1c7a52-3f0e-4d55-9a57-1c0de5a7e0a1")


def gpu_uuid(node: str, index: int) -> str:
    """`GPU-xxxxxxxx-…`, the same for a node and index in every run (NVML's UUID format)."""
    return "GPU-" + str(uuid.uuid5(_NS, f"{node}/{index}"))


# product label → (memory MiB, family, compute major, minor)
GPU_MODELS: dict[str, tuple[int, str, int, int]] = {
    "NVIDIA-H100-80GB-HBM3": (81559, "hopper", 9, 0),
    "NVIDIA-A100-SXM4-40GB": (40960, "ampere", 8, 0),
    "NVIDIA-A100-SXM4-80GB": (81920, "ampere", 8, 0),
    "NVIDIA-L40S": (46068, "ada-lovelace", 8, 9),
    "Tesla-T4": (15360, "turing", 7, 5),
}


# NVML's device name (what nvidia-smi and dcgm-exporter's `modelName` show) for each GFD product label.
NVML_NAMES: dict[str, str] = {
    "NVIDIA-H100-80GB-HBM3": "NVIDIA H100 80GB HBM3",
    "NVIDIA-A100-SXM4-40GB": "NVIDIA A100-SXM4-40GB",
    "NVIDIA-A100-SXM4-80GB": "NVIDIA A100-SXM4-80GB",
    "NVIDIA-L40S": "NVIDIA L40S",
    "Tesla-T4": "Tesla T4",
}


def model_name(product: str) -> str:
    """NVML's name for a GFD product label; unknown labels get their dashes turned to spaces."""
    return NVML_NAMES.get(product) or product.replace("-", " ")


def gfd_labels(product: str, count: int) -> dict[str, str]:
    mem, family, major, minor = GPU_MODELS.get(product, (16384, "unknown", 0, 0))
    return {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.memory": str(mem),
        "nvidia.com/gpu.count": str(count),
        "nvidia.com/gpu.family": family,
        "nvidia.com/gpu.compute.major": str(major),
        "nvidia.com/gpu.compute.minor": str(minor),
        "nvidia.com/gpu.deploy.dcgm-exporter": "true",
        "nvidia.com/mig.strategy": "none",
        "nvidia.com/mig.capable": "false",
        "nvidia.com/cuda.driver.major": "550",
        "nvidia.com/cuda.driver.minor": "127",
        "nvidia.com/cuda.driver.rev": "08",
    }
