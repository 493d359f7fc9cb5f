"""Training throughput of PatchTST per budget: time of one AdamW step (forward, backward, clip, step) on
windows gathered from device tensors, samples per second, and peak device memory (CUDA).

    .venv/bin/python bench/train_step.py                                  # 2M on the CPU
    .venv/bin/python bench/train_step.py --device cuda --budgets 2M 20M 200M 2B --batch-size 64
"""

import argparse, time
import numpy as np
import pandas as pd
import torch
from fints_scaling.context import RunContext
from fints_scaling.device import amp_dtype, choose_device
from fints_scaling.model import build_model, count_parameters, model_config
from fints_scaling.splits import ChunkSplitter
from fints_scaling.trainer import Hyperparameters, Trainer
from fints_scaling.windows import TensorWindows

ap = argparse.ArgumentParser()
ap.add_argument("--budgets", nargs="+", default=["2M"])
ap.add_argument("--device", default="cpu")
ap.add_argument("--batch-size", type=int, default=256)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--no-amp", action="store_true")
args = ap.parse_args()
dev = choose_device(args.device)
n_days, n_features, ctx = 6000, 28, 60
rng = np.random.default_rng(0)
df = pd.DataFrame(rng.normal(size=(n_days, n_features)).astype(np.float32), columns=[f"f{i}" for i in range(n_features)])
y = (rng.random(n_days) > 0.7).astype(float)
splits = ChunkSplitter(n_days, ctx, 1).split()
w = TensorWindows.from_frame(df, y, splits, device=dev)
print(f"device {dev}, amp {amp_dtype(dev, not args.no_amp)}, batch {args.batch_size}, torch {torch.__version__}")
print(f"{'budget':>6} {'params':>14} {'step ms':>9} {'samples/s':>11} {'peak GiB':>9}")
for b in args.budgets:
    torch.manual_seed(0)
    model = build_model(model_config(b, n_features, ctx, root=RunContext().root), dev)
    t = Trainer(model, w, Hyperparameters(batch_size=args.batch_size, epochs=1), ctx=RunContext(amp=not args.no_amp, progress=False))
    idx = w.train[: args.batch_size]

    def step():
        xb, yb = w.gather(idx)
        with t._autocast():
            logits = model(xb)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), yb)
        t.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        t.opt.step()

    step()
    step()  # warm-up (allocations, kernels)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / args.steps * 1000
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    print(f"{b:>6} {count_parameters(model):>14,} {ms:>9.1f} {args.batch_size / ms * 1000:>11,.0f} {peak:>9.2f}")
    model = t = None  # free the memory before the next budget
    if dev.type == "cuda":
        torch.cuda.empty_cache()
