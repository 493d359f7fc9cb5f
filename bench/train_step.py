"""Training throughput of PatchTST per budget: time of one AdamW step (forward, backward, clip, step) on windows gathered from device
tensors, samples per second, achieved FLOP/s and their share of the device's peak (MFU), peak memory and the memory plan's figure.

    .venv/bin/python bench/train_step.py                                  # 2M on the CPU, against its measured fp32 matmul peak
    .venv/bin/python bench/train_step.py --device cuda --budgets 2M 20M 200M 2B --checkpointing 200M 2B
"""

import argparse, time
import numpy as np
import pandas as pd
import torch
from fints_scaling.context import RunContext
from fints_scaling.device import amp_dtype, choose_device, device_name, peak_flops
from fints_scaling.model import build_model, count_parameters, flops_per_sample, memory_plan, model_config
from fints_scaling.splits import ChunkSplitter
from fints_scaling.trainer import Hyperparameters, Trainer
from fints_scaling.windows import TensorWindows

ap = argparse.ArgumentParser()
ap.add_argument("--budgets", nargs="+", default=["2M"])
ap.add_argument("--checkpointing", nargs="*", default=[], help="budgets to run a second time with activation checkpointing")
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
amp = amp_dtype(dev, not args.no_amp)
peak, source = peak_flops(dev, amp)
print(f"{device_name(dev)} ({dev}), amp {amp}, batch {args.batch_size}, torch {torch.__version__}, threads {torch.get_num_threads()}")
print(f"peak {peak / 1e12:.2f} TFLOP/s ({source})")
print(
    f"{'budget':>6} {'ckpt':>5} {'params':>14} {'step ms':>9} {'samples/s':>10} {'TFLOP/s':>8} {'MFU':>6} {'peak GiB':>9} {'plan GiB':>9}"
)
for b, ckpt in [(b, False) for b in args.budgets] + [(b, True) for b in args.checkpointing]:
    torch.manual_seed(0)
    cfg = model_config(b, n_features, ctx, root=RunContext().root)
    model = build_model(cfg, dev)
    model.checkpointing = ckpt
    t = Trainer(model, w, Hyperparameters(batch_size=args.batch_size, epochs=1), ctx=RunContext(progress=False), amp=amp)
    idx = w.train[: args.batch_size]

    def step():
        xb, yb = w.gather(idx)
        with t._autocast():
            logits = model(xb)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), yb)
        t.opt.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.unscale_(t.opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        t.scaler.step(t.opt)
        t.scaler.update()

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
    sec = (time.perf_counter() - t0) / args.steps
    f = flops_per_sample(cfg)
    achieved = (f["forward"] + f["backward"]) * args.batch_size / sec
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    plan = memory_plan(cfg, args.batch_size, ckpt)["total"] / 2**30
    print(
        f"{b:>6} {'yes' if ckpt else 'no':>5} {count_parameters(model):>14,} {sec * 1000:>9.1f} {args.batch_size / sec:>10,.0f} "
        f"{achieved / 1e12:>8.3f} {achieved / peak:>6.1%} {mem:>9.2f} {plan:>9.2f}"
    )
    model = t = None  # free the memory before the next budget
    if dev.type == "cuda":
        torch.cuda.empty_cache()
