"End to end through the console scripts: build, resample, verify, and every way a data file can go wrong."

import subprocess
import pandas as pd
import pytest
from conftest import bin_path
from fints_scaling.storage import DataPaths, Manifest
from fints_scaling.sources import read_price_file, save_raw, OHLCV
from fints_scaling.bars import TIMESCALES, RESAMPLED, check_no_lookahead, timescale_path

pytestmark = pytest.mark.xdist_group("data")  # the module builds its data once


def run(*args, root):
    return subprocess.run([bin_path(args[0]), "--root", str(root), *args[1:]], capture_output=True, text=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    assert run("fints-data", "build", root=root).returncode == 0
    for cmd in (("fints-resample", "--all"), ("fints-datasets",)):
        r = run(*cmd, root=root)
        assert r.returncode == 0, r.stderr
    return root


def test_make_data_builds_every_ticker_at_every_timescale(built):
    paths = DataPaths(built)
    ids = set(Manifest(paths).entries)
    for t, kind in [("SP500", "OHLCV"), ("NASDAQ", "OHLCV"), ("VIX", "Close")]:
        assert {f"{t}.{kind}.{ts}" for ts in TIMESCALES} <= ids
    assert run("fints-data", "verify", root=built).returncode == 0
    daily = pd.read_parquet(paths.raw / "SP500.parquet")
    for ts in TIMESCALES:
        bars = pd.read_parquet(timescale_path("SP500", "OHLCV", ts, paths))
        check_no_lookahead(daily, bars)
        assert pd.api.types.is_datetime64_any_dtype(bars.Date)


def test_datasets_at_every_timescale(built):
    from fints_scaling.features import DATASET_C, dataset_path

    paths = DataPaths(built)
    for t in ("SP500", "NASDAQ"):
        for ts in TIMESCALES:
            dc = pd.read_parquet(dataset_path(t, "dataset_c", ts, paths))
            a20 = pd.read_parquet(dataset_path(t, "dataset_a20", ts, paths))
            assert list(dc.columns) == DATASET_C and dc.notna().all().all()
            assert a20.shape[1] == 26 and a20.Date.dt.year.max() == 2018
            assert dc.Date.min() >= pd.Timestamp("2014-01-03") and dc.Date.is_monotonic_increasing  # the VIX's years


def test_data_dictionary_covers_every_parquet(built):
    r = run("fints-data-dictionary", "--force", root=built)
    assert r.returncode == 0, r.stderr
    md = (built / "docs/data_dictionary.md").read_text()
    files = sorted((built / "data").rglob("*.parquet"))
    assert len(files) == 70 and all(f"### {f.name}" in md for f in files)


def test_vix_bars_share_the_market_calendar(built):
    p = DataPaths(built).processed
    for ts in RESAMPLED:
        vix, spx = (pd.read_parquet(p / f"{n}_{ts}.parquet") for n in ("VIX_Close", "SP500_OHLCV"))
        assert vix.Date.isin(spx.Date).all(), ts


@pytest.mark.parametrize("damage, word", [("tamper", "changed"), ("delete", "missing"), ("stray", "unlisted")])
def test_verify_names_the_bad_file(built, tmp_path, damage, word):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built, root)
    target = root / "data/processed/v1/SP500_OHLCV_weekly.parquet"
    if damage == "tamper":
        df = pd.read_parquet(target)
        df.loc[10, "Close"] *= 1.001
        df.to_parquet(target, index=False)
    elif damage == "delete":
        target.unlink()
    else:
        shutil.copy(target, target.with_name("EXTRA_OHLCV_weekly.parquet"))
    r = run("fints-data", "verify", root=root)
    assert r.returncode == 2
    name = "EXTRA_OHLCV_weekly.parquet" if damage == "stray" else "SP500_OHLCV_weekly.parquet"
    assert f"{name}: {word}" in r.stderr


def test_tampered_raw_file_stops_resampling(built, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built, root)
    raw = root / "data/raw/NASDAQ.parquet"
    df = pd.read_parquet(raw)
    df.loc[0, "Volume"] += 1
    df.to_parquet(raw, index=False)
    r = run("fints-resample", "--ticker", "NASDAQ", "--timescale", "weekly", root=root)
    assert r.returncode == 2 and "data/raw/NASDAQ.parquet: changed" in r.stderr


def test_corrupt_manifest_is_named(built, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built, root)
    (root / "data/manifest.json").write_text('{"files": [')
    r = run("fints-data", "verify", root=root)
    assert r.returncode == 2 and "manifest.json: not valid JSON" in r.stderr


GOOD = "Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10.5,100\n2020-01-03,11,12,10,11.5,200\n2020-01-06,12,13,11,12.5,300\n"
BAD = {
    "missing_column": (
        GOOD.replace(",Volume", "").replace(",100\n", "\n").replace(",200\n", "\n").replace(",300\n", "\n"),
        "missing column(s) ['Volume']",
    ),
    "nan_price": (GOOD.replace("11.5", ""), "column 'Close' has NaN values: first at 2020-01-03"),
    "mistyped": (GOOD.replace("11.5", "abc"), "column 'Close' has dtype"),
    "duplicate_date": (GOOD.replace("2020-01-06", "2020-01-03"), "column 'Date' has duplicate dates: first at 2020-01-03"),
    "unsorted": (
        GOOD.replace("2020-01-06", "2020-01-01"),
        "column 'Date' is not sorted (date earlier than the row before): first at 2020-01-01",
    ),
    "non_positive": (GOOD.replace(",10,11,9,", ",10,11,-9,"), "column 'Low' has non-positive prices: first at 2020-01-02"),
    "high_below_low": (GOOD.replace(",12,13,11,", ",12,10.9,11,"), "column 'High' is below Low: first at 2020-01-06"),
    "close_outside": (GOOD.replace("12.5", "13.5"), "column 'Close' lies outside [Low, High]: first at 2020-01-06"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_price_file_is_named_and_nothing_is_written(root, case):
    text, message = BAD[case]
    path = root / f"{case}.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        save_raw(read_price_file(path), "USER", "file", DataPaths(root))
    assert str(path) in str(e.value) and message in str(e.value)
    assert not (root / "data").exists()


def test_good_price_file_loads(root):
    path = root / "good.csv"
    path.write_text(GOOD.lower())
    df = read_price_file(path)
    assert list(df.columns) == ["Date", *OHLCV] and len(df) == 3
