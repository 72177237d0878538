"""Weights & Biases sidecar of a run: `python -m mcl_worker.wandb_sink <run dir> <options JSON>`.

The run (ts/sdk/wandb-sink.ts) starts it when the config's `logging.wandb` asks and writes one
JSON line per metric record to its stdin:

    {"step": 120, "stepMetric": "stage-1/step", "scalars": {"stage-1/train/loss": 4.1, ...}}

Each track counts its own steps (they start again at 0 with each stage), and W&B's own step must
only grow, so every scalar is plotted against its record's step metric (wandb.define_metric)
and W&B's step just counts the records. The W&B run id is kept in <run dir>/wandb-run-id, so a
resumed run continues the same W&B run. The sidecar prints READY once wandb.init has returned,
finishes the W&B run at end of input, and exits with NO_WANDB when wandb cannot be imported.
Only this module imports wandb; the worker never does.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

READY = "mcl-wandb-sink ready"
NO_WANDB = 3
ID_FILE = "wandb-run-id"


def run_id(run_dir: Path) -> str:
    """The W&B run id of the run in `run_dir`, made and stored on first use."""
    path = run_dir / ID_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    new_id = secrets.token_hex(6)
    partial = path.with_name(f"{ID_FILE}.tmp-{secrets.token_hex(4)}")
    partial.write_text(new_id + "\n", encoding="utf-8")
    partial.replace(path)  # whole or absent: a resumed run never reads half an id
    return new_id


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mcl_worker.wandb_sink <run dir> <options JSON>", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    options: dict[str, Any] = json.loads(argv[1])
    try:
        import wandb
    except ImportError as error:
        print(f"cannot import wandb: {error}", file=sys.stderr)
        return NO_WANDB
    run = wandb.init(
        project=options["project"],
        entity=options.get("entity"),
        name=options.get("name"),
        mode=options.get("mode", "online"),
        dir=str(run_dir),
        id=run_id(run_dir),
        resume="allow",
        settings=wandb.Settings(console="off"),
    )
    print(READY, flush=True)
    defined: set[str] = set()
    for line in sys.stdin:
        if not line.strip():
            continue
        point = json.loads(line)
        step_metric: str = point["stepMetric"]
        scalars: dict[str, float] = point["scalars"]
        if step_metric not in defined:
            run.define_metric(step_metric, hidden=True)
            defined.add(step_metric)
        for tag in scalars:
            if tag not in defined:
                run.define_metric(tag, step_metric=step_metric)
                defined.add(tag)
        run.log({**scalars, step_metric: point["step"]})
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
