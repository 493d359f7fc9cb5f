"""Is a change to the training code no worse? Two results folders of the same cell (before and after the change, same seeds and
split) compared budget by budget on the same test windows: the mean test loss over seeds after minus before, seed k against seed k,
with its calendar-bootstrap interval (days in blocks and seed pairs resampled, as the scaling analysis resamples).

    .venv/bin/python bench/paired_change.py BEFORE_DIR AFTER_DIR
"""

import argparse
from pathlib import Path
import numpy as np
from fints_scaling.scaling import block_length, calendar_bootstrap, percentile_interval, read_json_files, window_losses

ap = argparse.ArgumentParser()
ap.add_argument("before", type=Path)
ap.add_argument("after", type=Path)
ap.add_argument("--n-boot", type=int, default=2000)
args = ap.parse_args()


def by_budget(folder: Path) -> dict:
    "Full-data runs of a results folder, grouped by budget: [(days, per-window losses)] by seed."
    out = {}
    for _, r in read_json_files(folder.glob("*.json"), "results"):
        if r.get("train_fraction", 1.0) == 1.0:
            p = r["predictions"]
            out.setdefault(r["budget"], []).append((r.get("model_seed", 0), p["day"], window_losses(p["y"], p["model"])))
    return {b: [(d, l) for _, d, l in sorted(runs, key=lambda x: x[0])] for b, runs in out.items()}


before, after = by_budget(args.before), by_budget(args.after)
print(f"{'budget':>6} {'seeds':>5} {'before':>8} {'after':>8} {'after - before [95% CI]':>30}")
for b in sorted(set(before) & set(after), key=lambda b: float(b[:-1]) * {"K": 1e3, "M": 1e6, "B": 1e9}[b[-1]]):
    assert all(d == before[b][0][0] for d, _ in before[b] + after[b]), f"{b}: the two folders hold different test windows"
    days, seeds = before[b][0][0], min(len(before[b]), len(after[b]))  # seed k after against seed k before
    diff = np.stack([after[b][k][1] - before[b][k][1] for k in range(seeds)])
    reps = calendar_bootstrap([(days, diff)], args.n_boot, block_length(len(days)), seed=0)[:, 0]
    ci = percentile_interval(reps, 0.95) or [0.0, 0.0]
    l0, l1 = (np.mean([l for _, l in runs[:seeds]]) for runs in (before[b], after[b]))
    print(f"{b:>6} {seeds:>5} {l0:>8.4f} {l1:>8.4f} {l1 - l0:>+12.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]")
