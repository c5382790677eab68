"""The `demo` scenario: a small Run:ai-style cluster that looks lived in.

Written in the scenario-file schema (see scenario_file.py), so the demo is also the reference example
of a custom scenario. Two departments, eight projects, 14 GPU nodes of three models, and 42 workloads:
fractional and whole-GPU inference behind Services, gang and single-pod training jobs, idle notebooks.
Inference is served every way it is deployed: plain Deployments, a Deployment driven by an HPA
(`embeddings`), Knative Services (`llama-8b-chat`, and `sdxl-preview`, which scales to zero when its
traffic stops), a KServe InferenceService (`reranker`) and a Run:ai InferenceWorkload (`summarizer`).
Their load follows a curve (`peakRps`), so while the simulator moves (unless `--static`) they scale up and
down every few minutes, and the replicas they add within quota reclaim over-quota training elsewhere.
The servers are vLLM for the chat models, TGI for `mistral-7b-instruct`, Triton for the encoders and
scorers, KServe's Hugging Face runtime behind Knative for `reranker`; `llama-8b-chat` and `reranker` carry
SLO annotations, which they breach now and then while the load outruns their autoscaler.
Demand exceeds the 96 GPUs on purpose: some projects run over quota, and `fraud-detect` asks for more
non-preemptible inference than its quota allows, so part of it stays Pending.
"""

from __future__ import annotations

from typing import Any

H, D = 3600, 86400
TRITON = "nvcr.io/nvidia/tritonserver:24.12-py3"
TGI = "ghcr.io/huggingface/text-generation-inference:3.3.4"


def _inf(name: str, project: str, gpu: float | None = None, replicas: int = 1, **kw: Any) -> dict[str, Any]:
    return {"name": name, "project": project, "kind": "inference", "replicas": replicas,
            **({"gpu": gpu} if gpu is not None else {}), **kw}


def _train(name: str, project: str, gpu: float = 1, parallelism: int = 1, run: int = 4 * H, **kw: Any) -> dict:
    return {"name": name, "project": project, "kind": "training", "gpu": gpu, "parallelism": parallelism,
            "runSeconds": run, **kw}


def _nb(name: str, project: str, gpu: float = 1, **kw: Any) -> dict[str, Any]:
    return {"name": name, "project": project, "kind": "interactive", "gpu": gpu, **kw}


DEMO: dict[str, Any] = {
    "name": "demo",
    "departments": [
        {"name": "research", "displayName": "Research", "quota": 56, "limit": -1, "overQuotaWeight": 2},
        {"name": "production", "displayName": "Production", "quota": 36, "limit": -1, "overQuotaWeight": 1,
         "priority": 120},
    ],
    "projects": [
        {"name": "llm-pretrain", "department": "research", "quota": 24, "limit": -1, "overQuotaWeight": 3},
        {"name": "vision", "department": "research", "quota": 12, "limit": -1, "overQuotaWeight": 2},
        {"name": "speech", "department": "research", "quota": 8, "limit": 16, "overQuotaWeight": 1},
        {"name": "rl-lab", "department": "research", "quota": 4, "limit": 8, "overQuotaWeight": 1,
         "queueLabel": "runai"},
        {"name": "chat-serving", "department": "production", "quota": 16, "limit": 24, "overQuotaWeight": 2,
         "priority": 150},
        {"name": "search-ranking", "department": "production", "quota": 8, "limit": -1, "overQuotaWeight": 1},
        {"name": "recsys", "department": "production", "quota": 8, "limit": -1, "overQuotaWeight": 1,
         "queueLabel": "runai"},
        {"name": "fraud-detect", "department": "production", "quota": 2, "limit": 4, "overQuotaWeight": 1},
    ],
    "nodePools": [
        {"name": "dgx-h100", "product": "NVIDIA-H100-80GB-HBM3", "count": 5, "gpus": 8},
        {"name": "hgx-a100", "product": "NVIDIA-A100-SXM4-40GB", "count": 5, "gpus": 8},
        {"name": "l40s", "product": "NVIDIA-L40S", "count": 4, "gpus": 4},
    ],
    "workloads": [
        # inference: 17 services
        _inf("llama-70b-chat", "chat-serving", 2, 2, model="meta-llama/Llama-3.1-70B-Instruct"),
        _inf("llama-8b-chat", "chat-serving", 0.5, serving="knative", peakRps=40, latencyMs=400, replicaRps=20,
             autoscale={"min": 2, "max": 6, "metric": "concurrency", "target": 4},
             slo={"p95Ms": 2500, "errorRatio": 0.01}),
        _inf("mistral-7b-instruct", "chat-serving", 0.5, 2, model="mistralai/Mistral-7B-Instruct-v0.3", image=TGI),
        _inf("embeddings", "chat-serving", 0.25, autoscale={"min": 1, "max": 3, "metric": "cpu", "target": 70},
             model="BAAI/bge-large-en", peakRps=60, replicaRps=25, image=TRITON),
        _inf("guardrails", "chat-serving", None, 2, gpuMemory=10000, model="meta-llama/Llama-Guard-3-8B"),
        _inf("code-assistant", "chat-serving", 1, 2, model="Qwen/Qwen2.5-Coder-7B-Instruct"),
        _inf("reranker", "search-ranking", 0.25, serving="kserve", peakRps=20, latencyMs=200, replicaRps=30,
             autoscale={"min": 1, "max": 4, "metric": "concurrency", "target": 2}, slo={"p95Ms": 4000}),
        _inf("query-encoder", "search-ranking", None, 2, gpuMemory=8000, image=TRITON),
        _inf("spell-correct", "search-ranking", 0.25, 1, image=TRITON),
        _inf("recsys-ranker", "recsys", 0.5, 2, image=TRITON),
        _inf("feature-encoder", "recsys", 0.25, 2, image=TRITON),
        _inf("candidate-gen", "recsys", 1, 2, image=TRITON),
        _inf("fraud-scorer", "fraud-detect", 1, 4, image=TRITON),
        _inf("vit-demo", "vision", 0.5, 1, utilization="0-2", image=TRITON),
        _inf("whisper-asr", "speech", 0.25, 2, model="openai/whisper-large-v3", image=TRITON),
        _inf("sdxl-preview", "vision", 1, serving="knative", peakRps=3, latencyMs=900, replicaRps=1.3, idleBelow=0.45,
             autoscale={"min": 0, "max": 2, "metric": "rps", "target": 1}, image=TRITON),
        _inf("summarizer", "recsys", 0.5, serving="runai", peakRps=18, replicaRps=12,
             autoscale={"min": 1, "max": 4, "metric": "throughput", "target": 5}),
        # training: 21 Jobs; gangs run `parallelism` pods of 8 GPUs
        _train("llama-pretrain-7b", "llm-pretrain", 8, 2, run=2 * D),
        _train("llm-sft-13b", "llm-pretrain", 8, 1, run=6 * H),
        _train("mixtral-moe", "llm-pretrain", 8, 2, run=D),
        _train("tokenizer-eval", "llm-pretrain", 1, run=300),
        _train("rlhf-reward", "llm-pretrain", 4, run=3 * H),
        _train("eval-harness", "llm-pretrain", 1, count=2, run=900),
        _train("vit-large-train", "vision", 4, 2, run=8 * H),
        _train("sam-finetune", "vision", 2, run=2 * H),
        _train("detr-sweep", "vision", 1, count=4, run=600),
        _train("whisper-ft", "speech", 4, run=5 * H),
        _train("tts-train", "speech", 2, 2, run=3 * H),
        _train("ppo-agent", "rl-lab", 1, count=3, run=H, priority="low"),
        _train("dqn-atari", "rl-lab", 0.5, run=2 * H),
        _train("nightly-retrain", "recsys", 2, run=1800),
        _train("ltr-train", "search-ranking", 2, run=H),
        # interactive notebooks, mostly idle
        _nb("notebook-alice", "llm-pretrain", 1),
        _nb("notebook-bob", "vision", 0.5),
        _nb("notebook-carol", "speech", 1, priority="build-preemptible"),
        _nb("notebook-dan", "rl-lab", 1, utilization="5-20"),
    ],
    # What dcgm-exporter reports as wrong: one GPU held back by its temperature, one with a recent XID
    # (48: a double-bit ECC error, counted as such) and its row remapping.
    "gpuFaults": [
        {"node": "dgx-h100-01", "gpu": 2, "clockEvents": ["sw_thermal", "hw_thermal"]},
        {"node": "dgx-h100-01", "gpu": 6, "xid": 48, "eccUncorrected": 1},
    ],
}
