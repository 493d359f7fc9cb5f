"""Time to build every dataset from raw for all embedded tickers and timescales (after import).

.venv/bin/python bench/build_datasets.py
"""

import tempfile, time
from pathlib import Path
from fints_scaling.storage import DataPaths
from fints_scaling.sources import build_raw
from fints_scaling.resample import resample_all
from fints_scaling.features import build_datasets

paths = DataPaths(Path(tempfile.mkdtemp()))
t0 = time.perf_counter()
build_raw(paths=paths)
t1 = time.perf_counter()
resample_all(paths=paths)
t2 = time.perf_counter()
entries = build_datasets(paths=paths)
t3 = time.perf_counter()
print(f"raw (3 tickers from arch):            {t1 - t0:6.2f} s")
print(f"resample (3 tickers x 4 timescales):  {t2 - t1:6.2f} s")
print(f"features + datasets ({len(entries)} files):   {t3 - t2:6.2f} s")
print(f"from raw to every dataset:            {t3 - t1:6.2f} s")
