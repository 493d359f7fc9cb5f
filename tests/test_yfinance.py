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


def test_download_of_fifty_tickers_retries_and_resumes(root, monkeypatch, capsys):
    "Fifty tickers from a file through yfinance's interface: a dropped connection is retried, each file listed, and a rerun skips them all."
    import yfinance

    tickers, calls = [f"T{i:02d}" for i in range(50)], []

    class Flaky(FakeTicker):
        def history(self, period, auto_adjust):
            calls.append(self.symbol)
            if self.symbol == "T07" and calls.count("T07") == 1:
                raise ConnectionError("connection reset by peer")
            return recorded_history()

    monkeypatch.setattr(yfinance, "Ticker", Flaky)
    (root / "tickers.txt").write_text("# fifty\n" + "\n".join(tickers) + "\n\n")
    args = ["--root", str(root), "download", "--tickers-file", str(root / "tickers.txt"), "--retry-wait", "0"]
    assert sources.data_cli(args) == 0
    assert "50 written, 0 skipped (already there), 1 retried, 0 failed" in capsys.readouterr().out
    paths = DataPaths(root)
    assert [Manifest(paths).verify_file(paths.raw / f"{t}.parquet")["id"] for t in tickers] == [f"{t}.OHLCV.daily" for t in tickers]
    assert len(calls) == 51
    assert sources.data_cli(args) == 0
    assert "0 written, 50 skipped (already there), 0 retried, 0 failed" in capsys.readouterr().out
    assert len(calls) == 51
