"""What a process costs besides its work: the CPU seconds of importing each command's module in a fresh Python, which heavy
packages it loads, and the CPU seconds of its exit (the interpreter's teardown, after the last line ran). Every command, notebook
kernel and Ray task pays both once; `make test` starts about 90 processes and 26 kernels, a study one kernel per run. A training run
also pays for `torch._dynamo`, which AdamW's constructor imports. The project's processes exit with the garbage collector frozen
(`fints_scaling.checks`); the last two lines show torch's exit without and with that.

    .venv/bin/python bench/startup.py              # every entry, median of 3 fresh processes each
    .venv/bin/python bench/startup.py --runs 5
"""

import argparse, json, resource, statistics, subprocess, sys

ENTRIES = [  # (what starts, imported before the clock starts, the import timed)
    ("fints-data", "", "fints_scaling.sources"),
    ("fints-resample", "", "fints_scaling.resample"),
    ("fints-datasets", "", "fints_scaling.features"),
    ("fints-data-dictionary", "", "fints_scaling.data_dictionary"),
    ("fints-train, the training notebook", "", "fints_scaling.train"),
    ("fints-hpo, the HPO notebook", "", "fints_scaling.hpo"),
    ("fints-experiments", "", "fints_scaling.experiments"),
    ("fints-demo", "", "fints_scaling.demo"),
    ("fints-pooling", "", "fints_scaling.study"),
    ("a Ray task's worker", "", "fints_scaling.cluster"),
    ("papermill", "", "papermill"),
    ("torch alone", "", "torch"),
    ("AdamW's first use, after torch", "torch", "torch._dynamo"),
    ("torch, exit with the collector frozen", "fints_scaling.checks", "torch"),
]
HEAVY = ("torch", "sklearn", "scipy", "pandas", "talib", "optuna", "papermill", "matplotlib", "mlflow", "wandb", "ray")
PROBE = """
import json, resource, sys, time
{setup}
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
import {module}
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cpu = lambda r: r.ru_utime + r.ru_stime
loaded = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps(dict(cpu=cpu(r1) - cpu(r0), wall=t1 - t0, loaded=loaded, before_exit=cpu(resource.getrusage(resource.RUSAGE_SELF)))))
"""


def children_cpu() -> float:
    "CPU seconds used so far by this process's finished children."
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(setup: str, module: str) -> dict:
    """CPU and wall seconds of `import module` in a fresh interpreter that imported `setup` first, the heavy packages loaded, and
    the CPU seconds of the process's exit: all it used, as its parent counts, less what it had used by its last line."""
    code = PROBE.format(setup=f"import {setup}" if setup else "", module=module, heavy=HEAVY)
    before = children_cpu()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r | {"exit": children_cpu() - before - r["before_exit"]}


ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--runs", type=int, default=3, help="fresh processes per entry; the median is printed")
args = ap.parse_args()
print(f"Python {sys.version.split()[0]}, median of {args.runs} fresh processes")
print(f"{'what starts':<38} {'import':<30} {'CPU s':>6} {'wall s':>7} {'exit CPU s':>11}  heavy packages loaded")
for what, setup, module in ENTRIES:
    runs = [measure(setup, module) for _ in range(args.runs)]
    cpu, wall, end = (statistics.median(r[k] for r in runs) for k in ("cpu", "wall", "exit"))
    print(f"{what:<38} {module:<30} {cpu:6.2f} {wall:7.2f} {end:11.2f}  {' '.join(runs[-1]['loaded'])}")
