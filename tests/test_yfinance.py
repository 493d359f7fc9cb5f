"""yfinance needs the network, so its Ticker is replaced by one that returns a response in yfinance's shape;
the parsing and the writing are real."""

import pandas as pd
from conftest import ROOT
from fints_scaling import sources
from fints_scaling.storage import DataPaths, Manifest


def recorded_history():
    rec = pd.read_csv(ROOT / "tests/data/yfinance_SPY_history.csv")
    return rec.set_index(pd.to_datetime(rec.pop("Date"), utc=True).dt.tz_convert("America/New_York").rename("Date"))


class FakeTicker:
    def __init__(self, symbol):
        self.symbol = symbol

    def history(self, period, auto_adjust):
        return recorded_history() if self.symbol == "SPY" else pd.DataFrame()


def test_download_writes_raw_file_and_manifest(root, monkeypatch):
    import yfinance

    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)
    assert sources.data_cli(["--root", str(root), "download", "--ticker", "SPY"]) == 0
    paths = DataPaths(root)
    e = Manifest(paths).verify_file(paths.raw / "SPY.parquet")
    assert (e["id"], e["rows"], e["first_date"], e["source"]) == ("SPY.OHLCV.daily", 13, "2020-03-04", "yfinance:SPY")
    assert sources.read_raw("SPY", paths)["Date"].is_monotonic_increasing


def test_download_of_unknown_ticker_fails_cleanly(root, monkeypatch, capsys):
    import yfinance

    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)
    assert sources.data_cli(["--root", str(root), "download", "--ticker", "NOPE"]) == 2
    assert "no rows for 'NOPE'" in capsys.readouterr().err
    assert not (root / "data").exists()
