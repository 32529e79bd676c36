#!/usr/bin/env python3
"""Loads a run's TensorBoard events with tensorboard's own reader and checks every scalar
against the run's metrics.jsonl (what the trainer printed). Needs the `tensorboard` Python
package (a GPU machine has it; CI does not). Exit 0 only if every step and tag agree.

    scripts/tensorboard-readback.py RUN_DIR
"""
import json
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator

# TensorBoard tag -> metrics.jsonl key (train lines, or the validation lines for valid_loss).
TAGS = {
    "train/loss": "loss",
    "train/aux_loss": "aux_loss",
    "train/lr": "lr",
    "train/grad_norm": "grad_norm",
    "train/loss_reasoning": "loss_reasoning",
    "train/loss_final": "loss_final",
    "perf/mfu": "mfu",
    "moe/load_cv": "moe_load_cv",
    "validation/loss": "valid_loss",
}


def main(run_dir: Path) -> int:
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l]
    expected = {}  # (tag, step) -> value
    for rec in lines:
        for tag, key in TAGS.items():
            if key in rec and (key == "valid_loss") == ("valid_loss" in rec):
                expected[(tag, rec["step"])] = float(rec[key])
    acc = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    print(f"tensorboard read {len(tags)} scalar tags from {run_dir / 'tensorboard'}: {sorted(tags)}")
    checked = bad = 0
    for (tag, step), want in sorted(expected.items()):
        got = {e.step: e.value for e in acc.Scalars(tag)} if tag in tags else {}
        if step not in got:
            print(f"MISSING {tag} at step {step}")
            bad += 1
            continue
        # Events hold float32; metrics.jsonl holds the double the trainer had.
        if not math.isclose(got[step], want, rel_tol=1e-6, abs_tol=1e-30):
            print(f"MISMATCH {tag} step {step}: event {got[step]!r}, metrics.jsonl {want!r}")
            bad += 1
        checked += 1
    print(f"checked {checked} values, {bad} bad")
    return 0 if checked > 0 and bad == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
