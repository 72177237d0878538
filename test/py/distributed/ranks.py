"""One rank of a data-parallel worker, driven without ZeroMQ: `python ranks.py SCENARIO OUT`.

Run alone, it is a single worker; run W times with torchrun's variables (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT), rank 0 runs the scenario's jobs through the registry, which
broadcasts each collective job to the other ranks (mcl_worker.jobs.collective), as
`python -m mcl_worker` under torchrun does. Rank 0 writes what the jobs answered to OUT (JSON).

Scenarios: `flow` (open, create, train, embed, k-means, with a rank-0-only uploaded tensor and a
free in between); `clip` (clip.create, then 3 steps of clip.train with the clip loss and 3 with
xsample's tokens graph: gathered negatives and graph, averaged gradients); `die` (rank 1 fails an
embed with an error of its own and leaves: rank 0 must answer RANK_LOST naming it, and refuse
later collective jobs).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

torch.set_num_threads(1)

from mcl_worker import distributed  # noqa: E402
from mcl_worker.jobs import JobContext, WorkerConfig, WorkerState, collective, lookup, registry, run_job  # noqa: E402

DATA = "synthetic:trifeature?n=48&size=16&seed=3"
CLIP_DATA = "synthetic:trifeature?n=48&size=32&seed=3"  # clip-tiny takes 32-pixel images
STEPS, BATCH = 3, 16


def call(state: WorkerState, job_type: str, body: dict[str, Any], progress: list[Any] | None = None) -> dict[str, Any]:
    spec = lookup(job_type)
    assert spec is not None
    ctx = JobContext(1, job_type, state, WorkerConfig(max_message_bytes=1 << 30, jobs=1),
                     (progress.append if progress is not None else lambda p: None))
    return run_job(spec, body, ctx)


def plan() -> dict[str, torch.Tensor]:
    order = torch.randperm(48, generator=torch.Generator().manual_seed(5))[: STEPS * BATCH]
    return {"indices": order.to(torch.int32), "offsets": torch.arange(0, STEPS * BATCH + 1, BATCH, dtype=torch.int32)}


def flow(state: WorkerState) -> dict[str, Any]:
    data = call(state, "dataset.open", {"uri": DATA})["dataset"]
    model = call(state, "model.create", {"arch": "small-cnn", "image_size": 16, "proj_dim": 8, "seed": 0,
                                         "options": {"widths": [8, 16]}})["model"]
    spare = call(state, "model.create", {"arch": "small-cnn", "image_size": 16, "seed": 1})["model"]
    state.free(spare)  # rank 0 alone frees it: the next collective job drops it on every rank
    optimizer = call(state, "optimizer.create", {"model": model, "name": "sgd", "lr": 0.1, "momentum": 0.9})["optimizer"]
    progress: list[Any] = []
    trained = call(state, "train", {"model": model, "optimizer": optimizer, "dataset": data, **plan(),
                                    "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 1,
                                    "progress_every": 1}, progress)
    embedding = call(state, "embed", {"model": model, "dataset": data, "batch_size": 10})["embedding"]
    # A tensor only rank 0 holds (handle.put runs there alone) travels with the job that names it.
    uploaded = call(state, "handle.put", {"tensor": state.get(embedding, torch.Tensor).clone()})["handle"]
    clusters = call(state, "kmeans", {"embedding": uploaded, "k": 4, "seed": 0})
    return {
        "handles": [data, model, optimizer, embedding, uploaded],
        "losses": [p["loss"] for p in progress],
        "samples": trained["samples"],
        "embedding": state.get(embedding, torch.Tensor).tolist(),
        "assignments": clusters["assignments"].tolist(),
        "inertia": clusters["inertia"],
        "leftover": sorted(state.handles()),
    }


def clip(state: WorkerState) -> dict[str, Any]:
    data = call(state, "dataset.open", {"uri": CLIP_DATA})["dataset"]
    model = call(state, "clip.create", {"config": "clip-tiny", "seed": 0,
                                        "tokenizer": {"kind": "words", "dataset": data}})["model"]
    optimizer = call(state, "optimizer.create", {"model": model, "name": "sgd", "lr": 0.1, "momentum": 0.9})["optimizer"]
    progress: list[Any] = []
    call(state, "clip.train", {"model": model, "optimizer": optimizer, "dataset": data, **plan(),
                               "loss": {"name": "clip"}, "seed": 1, "progress_every": 1}, progress)
    # X-Sample's tokens graph relates the captions of the whole gathered batch, not a rank's shard.
    call(state, "clip.train", {"model": model, "optimizer": optimizer, "dataset": data, **plan(),
                               "loss": {"name": "xsample", "graph": "tokens"}, "seed": 2, "first_step": STEPS,
                               "progress_every": 1}, progress)
    return {"losses": [p["loss"] for p in progress]}


def die(state: WorkerState) -> dict[str, Any]:
    data = call(state, "dataset.open", {"uri": DATA})["dataset"]
    model = call(state, "model.create", {"arch": "small-cnn", "image_size": 16, "seed": 0, "options": {"widths": [8]}})["model"]
    optimizer = call(state, "optimizer.create", {"model": model, "name": "sgd", "lr": 0.1})["optimizer"]
    # Every rank refuses a bad body alike, and the group goes on.
    try:
        call(state, "embed", {"model": model, "dataset": data, "augment": {"size": 20}})
    except Exception as exc:
        refused = {"code": getattr(exc, "code", None), "details": getattr(exc, "details", None)}
    else:
        raise AssertionError("embed took augment.size 20 for a model built for 16")
    call(state, "embed", {"model": model, "dataset": data, "batch_size": 7})
    body = {"model": model, "optimizer": optimizer, "dataset": data, **plan(),
            "loss": {"name": "nt-xent", "temperature": 0.2}, "seed": 1}
    try:
        call(state, "embed", {"model": model, "dataset": data})
    except Exception as exc:
        first = {"code": getattr(exc, "code", None), "message": str(exc), "details": getattr(exc, "details", None)}
    else:
        raise AssertionError("embed succeeded although rank 1 failed")
    try:
        call(state, "train", body)
    except Exception as exc:
        after = {"code": getattr(exc, "code", None), "details": getattr(exc, "details", None)}
        return {"refused": refused, "failed": first, "after": after}
    raise AssertionError("a collective job ran on a broken group")


def sabotage() -> None:
    """Rank 1 of the `die` scenario: its third embed fails with an error rank 0 does not see."""
    embed = registry._registry["embed"]
    calls = [0]

    def embed_or_fail(body: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] == 3:
            raise OSError("the disk of rank 1 is full")
        return embed.run(body, ctx)

    registry._registry["embed"] = registry.JobSpec("embed", embed_or_fail, False, collective=True)


def main() -> int:
    scenario, out = sys.argv[1], sys.argv[2]
    if scenario == "clip":
        distributed._GRADIENT_BUCKET_BYTES = 1 << 16  # clip-tiny's gradients then fill many buckets
    if distributed.launched() and distributed.init(timeout_s=60) > 0:
        if scenario == "die":
            sabotage()
        return collective.follow(WorkerState())
    state = WorkerState()
    result = {"flow": flow, "clip": clip, "die": die}[scenario](state)
    result["world_size"] = distributed.world_size()
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    if scenario != "die":
        collective.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
