"""Memory and speed of pooled windows: 100 synthetic series x 5,000 days x 20 features, context 60, split on their union
calendar and pooled into one TensorWindows, against the same windows of one series alone. Memory is the bytes the pool
holds (features, labels, window indices, series of each row) against the raw float32 feature tensors; speed is the time to
gather one shuffled batch of 256 windows.

    .venv/bin/python bench/pooled_windows.py [--series 100] [--days 5000] [--features 20] [--device cpu|cuda|mps]
"""

import argparse, resource, time
import numpy as np
import pandas as pd
import torch
from fints_scaling.splits import calendar_split
from fints_scaling.windows import TensorWindows

ap = argparse.ArgumentParser()
ap.add_argument("--series", type=int, default=100)
ap.add_argument("--days", type=int, default=5000)
ap.add_argument("--features", type=int, default=20)
ap.add_argument("--context", type=int, default=60)
ap.add_argument("--batch-size", type=int, default=256)
ap.add_argument("--device", default="cpu")
args = ap.parse_args()

rng = np.random.default_rng(0)
calendar = pd.bdate_range("1990-01-01", periods=args.days + args.days // 5)
columns = [f"f{i}" for i in range(args.features)]
frames = {}
for k in range(args.series):  # each series its own start and a few missing days
    start = int(rng.integers(0, args.days // 5))
    days = calendar[start : start + args.days]
    frame = pd.DataFrame(rng.standard_normal((args.days, args.features)).astype(np.float32), columns=columns)
    frames[f"S{k:03d}"] = frame.assign(Date=days)
labels = {n: (rng.random(args.days) < 0.2).astype(float) for n in frames}
raw = sum(f[columns].to_numpy(np.float32).nbytes for f in frames.values())
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak resident bytes (Linux: KiB)

before, t = rss(), time.perf_counter()
cal = calendar_split({n: f["Date"] for n, f in frames.items()}, context_length=args.context, horizon=1, mode="scattered")
split_s = time.perf_counter() - t
t = time.perf_counter()
pool = TensorWindows.pool(
    {n: TensorWindows.from_frame(f, labels[n], cal.series[n], columns=columns, device=args.device) for n, f in frames.items()}
)
build_s = time.perf_counter() - t
held = sum(a.numel() * a.element_size() for a in (pool.x, pool.y, pool.train, pool.val, pool.test, pool.row_series))
alone = TensorWindows.from_frame(frames["S000"], labels["S000"], cal.series["S000"], columns=columns, device=args.device)


def gather_us(w: TensorWindows, repeats: int = 300) -> float:
    "Median microseconds to gather one shuffled batch of train windows."
    g, times = torch.Generator().manual_seed(0), []
    for _ in range(repeats):
        idx = w.train[torch.randint(len(w.train), (args.batch_size,), generator=g).to(w.train.device)]
        t = time.perf_counter()
        xb, yb = w.gather(idx)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return 1e6 * float(np.median(times))


print(f"{args.series} series x {args.days} days x {args.features} features, context {args.context}, on {args.device}")
print(f"calendar {len(cal.calendar)} days; split in {split_s:.2f} s, pooled in {build_s:.2f} s")
print(f"windows: train {len(pool.train):,}  val {len(pool.val):,}  test {len(pool.test):,}")
print(f"raw features {raw / 2**20:,.1f} MiB; the pool holds {held / 2**20:,.1f} MiB ({held / raw:.2f}x)")
print(f"peak resident memory grew {(rss() - before) / 2**20:,.1f} MiB while splitting and pooling ({(rss() - before) / raw:.2f}x raw)")
print(f"one batch of {args.batch_size}: {gather_us(pool):.0f} us pooled, {gather_us(alone):.0f} us one series alone")
