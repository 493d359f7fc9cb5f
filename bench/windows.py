"""Samples per second of batch gathering: TensorWindows (one gather per batch on the device) against a torch DataLoader
over a per-sample Dataset, on the same windows of the daily SP500 dataset_a20 (4,832 days, 20 features, context 60).

    .venv/bin/python bench/windows.py [--device cpu|cuda|mps] [--batch-size 256] [--epochs 3]
"""

import argparse, time
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from fints_scaling.features import dataset_path
from fints_scaling.splits import ChunkSplitter
from fints_scaling.context import RunContext
from fints_scaling.tasks import threshold_labels
from fints_scaling.windows import TensorWindows

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cpu")
ap.add_argument("--batch-size", type=int, default=256)
ap.add_argument("--epochs", type=int, default=3)
args = ap.parse_args()

df = pd.read_parquet(dataset_path("SP500", "dataset_a20", "daily", RunContext().paths))
splits = ChunkSplitter(len(df), context_length=60, horizon=1).split()
w = TensorWindows.from_frame(df, threshold_labels(df, 1, 1), splits, device=args.device)


class PerSample(Dataset):
    "The per-sample way: one window at a time, from host arrays, through a DataLoader."

    def __init__(self, x, y, idx, ctx):
        self.x, self.y, self.idx, self.ctx = x, y, idx, ctx

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, i):
        t = self.idx[i]
        return torch.from_numpy(self.x[t : t + self.ctx]), torch.tensor(self.y[t + self.ctx - 1])


def sync():
    if args.device == "cuda":
        torch.cuda.synchronize()
    elif args.device == "mps":
        torch.mps.synchronize()


def rate(batches) -> float:
    n, t = 0, time.perf_counter()
    for _ in range(args.epochs):
        for xb, yb in batches():
            xb, yb = xb.to(args.device, non_blocking=True), yb.to(args.device, non_blocking=True)
            n += len(yb)
    sync()
    return n / (time.perf_counter() - t)


g = torch.Generator().manual_seed(0)
ds = PerSample(w.x.cpu().numpy(), w.y.cpu().numpy(), splits.train_indices, 60)
loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, generator=g)
tensor_rate = rate(lambda: w.batches(w.train, args.batch_size, shuffle=True, generator=g))
loader_rate = rate(lambda: loader)
print(f"{len(splits.train_indices):,} train windows of 60 x {w.n_features}, batch {args.batch_size}, device {args.device}")
print(f"TensorWindows (gather on device):      {tensor_rate:12,.0f} samples/s")
print(f"DataLoader over a per-sample Dataset:  {loader_rate:12,.0f} samples/s")
print(f"speed-up:                              {tensor_rate / loader_rate:12.1f}x")
