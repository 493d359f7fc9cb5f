"""Bad input and faults, one row each: every command exits 2 with one line naming the file, field or value, prints no traceback,
and leaves the project exactly as it found it. Each row runs the real command in-process against a private copy of the data."""

import json, os, shutil, subprocess, sys, time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
import optuna
import pandas as pd
import pytest
from conftest import ROOT
from fints_scaling.config import load_experiment_config
from fints_scaling.data_dictionary import data_dictionary_cli
from fints_scaling.demo import demo_cli
from fints_scaling.experiments import experiments_cli
from fints_scaling.hpo import hpo_cli
from fints_scaling.resample import resample_cli
from fints_scaling.sources import data_cli
from fints_scaling.storage import atomic_path, write_json_atomic, write_parquet_atomic
from fints_scaling.train import train_cli

CONFIG = "configs/experiments/spy_daily_threshold_1pct.yaml"
SPACE = "configs/hpo/default_search.yaml"
TRAIN = ["--config", CONFIG, "--budget", "30K", "--epochs", "1", "--wandb-mode", "disabled", "--no-mlflow"]
HPO = ["--config", CONFIG, "--budget", "30K", "--n-trials", "2", "--max-epochs", "1", "--wandb-mode", "disabled", "--no-mlflow"]
QUIET_SPACE = "search_space:\n  dropout: {type: uniform, low: 0.0, high: 0.3}\n"


@dataclass
class Case:
    name: str
    cli: Callable
    argv: list
    message: str
    setup: Callable = field(default=lambda root: None)


def write(rel, text):
    "A setup that writes `text` to `rel` under the project."

    def setup(root):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)

    return setup


def config_with(**settings):
    "A setup writing configs/experiments/exp.yaml: the default config with `settings` (YAML text) in place of its own."

    def setup(root):
        lines = [l for l in (ROOT / CONFIG).read_text().splitlines() if l.split(":")[0] not in settings]
        (root / "configs/experiments/exp.yaml").write_text("\n".join(lines + [f"{k}: {v}" for k, v in settings.items()]) + "\n")

    return setup


def unvouched_data(suffix: str, text: str):
    "An experiment whose data file holds `text` and lies outside data/, so only --no-verify gets as far as reading it."

    def setup(root):
        (root / f"bad{suffix}").write_text(text)
        config_with(data_path=f"bad{suffix}", fallback_data_path="null")(root)

    return setup


def bad_dataset(change):
    "An experiment reading a copy of the real dataset, outside data/, with `change` applied to it: only --no-verify reads it."

    def setup(root):
        df = pd.read_parquet(root / "data/processed/v1/SP500_dataset_a20.parquet")
        change(df).to_parquet(root / "bad.parquet", index=False)
        config_with(data_path="bad.parquet", fallback_data_path="null")(root)

    return setup


def pool_with(name: str, change):
    "A pooled experiment of SP500 and `name`, whose dataset is SP500's with `change` applied, unlisted: only --no-verify reads it."

    def setup(root):
        df = pd.read_parquet(root / "data/processed/v1/SP500_dataset_a20.parquet")
        change(df).to_parquet(root / f"data/processed/v1/{name}_dataset_a20.parquet", index=False)
        config_with(series=f"[SP500, {name}]")(root)

    return setup


def shift_dates(df):
    df["Date"] = df["Date"] + pd.DateOffset(years=40)
    return df


def set_at(column, row, value):
    def change(df):
        df.loc[row, column] = value
        return df

    return change


def edit_manifest(change):
    def setup(root):
        m = root / "data/manifest.json"
        doc = json.loads(m.read_text())
        change(doc)
        m.write_text(json.dumps(doc))

    return setup


def drop_path(doc):
    doc["files"][0].pop("path")


def drop_md5(doc):
    doc["files"][0].pop("md5")


def hold_lock(root):
    "Another process holds the run's lock (it sleeps until the test kills it)."
    lock = root / "outputs/checkpoints/spy_daily_threshold_1pct/30K/run.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import fcntl, os, time; f = open({str(lock)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "f.truncate(0); f.write(f'PID {os.getpid()} on test'); f.flush(); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    HOLDERS.append(holder)


HOLDERS = []


def study_with_other_space(root):
    "A study of this experiment and budget, started with another search space."
    storage = f"sqlite:///{root}/outputs/hpo/optuna.db"
    (root / "outputs/hpo").mkdir(parents=True)
    s = optuna.create_study(study_name="spy_daily_threshold_1pct_30K", storage=storage)
    from dataclasses import asdict

    cfg = load_experiment_config(root / CONFIG)
    s.set_user_attr("search_space", {"epochs": {"type": "categorical", "choices": [2]}})
    s.set_user_attr("config", asdict(cfg))


def best_json(params, **extra):
    return write("best.json", json.dumps({"experiment": "spy_daily_threshold_1pct", "budget": "30K", "best_params": params, **extra}))


CASES = [
    # the cases the issue lists
    Case(
        "config field of the wrong type",
        train_cli,
        ["--config", "configs/experiments/exp.yaml", "--budget", "30K"],
        "hpo_train_fraction must be float, got '0.3'",
        config_with(hpo_train_fraction="'0.3'"),
    ),
    Case(
        "search space with a word for a number",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "patience: low must be an integer, got 'five'",
        write("s.yaml", "search_space:\n  patience: {type: int, low: five, high: 9}\n"),
    ),
    Case(
        "search space entry that is not a mapping",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "patience: type must be one of",
        write("s.yaml", "search_space:\n  patience: five\n"),
    ),
    Case(
        "HPO best JSON with a string value",
        train_cli,
        [*TRAIN, "--hpo-best", "best.json"],
        "learning_rate must be float, got '0.001'",
        best_json({"learning_rate": "0.001"}),
    ),
    Case("pos weight that is not a number", train_cli, [*TRAIN, "--pos-weight", "abc"], "expected 'auto' or a number > 0, got 'abc'"),
    Case(
        "storage URL with an unknown scheme",
        hpo_cli,
        [*HPO, "--storage", "nosuchdb://host/db"],
        "storage 'nosuchdb://host/db': cannot open it",
    ),
    Case("unreachable PostgreSQL storage", hpo_cli, [*HPO, "--storage", "postgresql://u@127.0.0.1:1/optuna"], "cannot open it"),
    Case(
        "SQLite storage in a missing folder",
        hpo_cli,
        [*HPO, "--storage", "sqlite:////nonexistent/folder/o.db"],
        "unable to open database file",
    ),
    Case("manifest entry without a path", train_cli, TRAIN, "files[0] lacks ['path']", edit_manifest(drop_path)),
    Case(
        "data dictionary into a folder, forced",
        data_dictionary_cli,
        ["--output", "data", "--force"],
        "data: is a folder; give the file to write",
    ),
    Case("data dictionary into a folder", data_dictionary_cli, ["--output", "data"], "data: is a folder"),
    Case(
        "text file named .parquet",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
        "bad.parquet: not a readable parquet file",
        unvouched_data(".parquet", "Date,Close\n2020-01-02,1\n"),
    ),
    Case(
        "empty .parquet",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
        "bad.parquet: empty file",
        unvouched_data(".parquet", ""),
    ),
    Case(
        "empty .csv",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
        "bad.csv: empty file",
        unvouched_data(".csv", ""),
    ),
    Case(
        "stray text .parquet in the data dictionary",
        data_dictionary_cli,
        ["--output", "dd.md", "--force"],
        "X.parquet: not a readable parquet file",
        write("data/processed/v1/X.parquet", "not parquet"),
    ),
    Case(
        "pooled series without a data file",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "series FTSE has no data file",
        config_with(series="[SP500, FTSE]"),
    ),
    Case(
        "pooled series named twice",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "series must not repeat",
        config_with(series="[SP500, SP500]"),
    ),
    Case(
        "pooled series with other feature columns",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
        "series ODD (",
        pool_with("ODD", lambda df: df.drop(columns=[df.columns[-1]])),
    ),
    Case(
        "pooled series that share no dates",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
        "series LATER (2039-10-18..2058-12-31) shares no dates with the others (1999-10-18..2018-12-31)",
        pool_with("LATER", shift_dates),
    ),
    Case("zero trials", hpo_cli, [*HPO, "--n-trials", "0"], "argument --n-trials: must be >= 1, got 0"),
    Case("negative trials", hpo_cli, [*HPO, "--n-trials", "-1"], "argument --n-trials: must be >= 1, got -1"),
    Case("zero max epochs", hpo_cli, [*HPO, "--max-epochs", "0"], "argument --max-epochs: must be >= 1, got 0"),
    Case(
        "no manifest (training)", train_cli, TRAIN, "no manifest vouches for this file", lambda root: (root / "data/manifest.json").unlink()
    ),
    Case("no manifest (HPO)", hpo_cli, HPO, "pass --no-verify to use it unchecked", lambda root: (root / "data/manifest.json").unlink()),
    Case(
        "no manifest (phase)",
        experiments_cli,
        ["run", "--phase", "demo", "--budgets", "30K", "--tasks", "threshold_1pct"],
        "no manifest vouches for this file",
        lambda root: (root / "data/manifest.json").unlink(),
    ),
    Case(
        "search space dropout above 1",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "dropout: uniform can give 1.5",
        write("s.yaml", "search_space:\n  dropout: {type: uniform, low: 0.0, high: 1.5}\n"),
    ),
    Case(
        "search space step 0",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "epochs: step must be > 0, got 0",
        write("s.yaml", "search_space:\n  epochs: {type: int, low: 2, high: 8, step: 0}\n"),
    ),
    Case(
        "search space batch size 0",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "batch_size: categorical can give 0",
        write("s.yaml", "search_space:\n  batch_size: {type: categorical, choices: [0, 64]}\n"),
    ),
    Case(
        "search space typo",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "unknown key(s) ['setp'] for type int",
        write("s.yaml", "search_space:\n  epochs: {type: int, low: 2, high: 8, setp: 2}\n"),
    ),
    Case(
        "search space bounds as strings",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "learning_rate: low must be a number, got '1e-4'",
        write("s.yaml", "search_space:\n  learning_rate: {type: log_uniform, low: '1e-4', high: '1e-2'}\n"),
    ),
    Case(
        "HPO best of another task, strict",
        train_cli,
        [*TRAIN, "--hpo-best", "best.json", "--strict"],
        "was tuned for another run (task 'threshold_3pct', not 'threshold_1pct')",
        best_json({}, task="threshold_3pct"),
    ),
    Case(
        "phase with a missing search space",
        experiments_cli,
        ["run", "--phase", "demo", "--budgets", "30K", "--tasks", "threshold_1pct", "--search-space", "configs/hpo/none.yaml"],
        "configs/hpo/none.yaml: no such search-space file",
    ),
    Case("a run another process holds", train_cli, TRAIN, "is in use by PID", hold_lock),
    Case(
        "a study started with another search space", hpo_cli, HPO, "was started with other settings (search_space", study_with_other_space
    ),
    # more of our own
    Case("unknown budget", train_cli, [*TRAIN, "--budget", "2 million"], "unknown budget '2 million'"),
    Case("budget too small for the data", train_cli, [*TRAIN, "--budget", "10K"], "no architecture lies within 5% of budget '10K'"),
    Case("unknown task", train_cli, [*TRAIN, "--task", "threshold_4pct"], "unknown task 'threshold_4pct'"),
    Case("unknown timescale", train_cli, [*TRAIN, "--timescale", "monthly"], "unknown timescale 'monthly'"),
    Case("unknown horizon", train_cli, [*TRAIN, "--horizon", "4"], "unknown horizon 4"),
    Case("train fraction above 1", train_cli, [*TRAIN, "--train-fraction", "1.5"], "must lie in (0, 1], got 1.5"),
    Case("negative model seed", train_cli, [*TRAIN, "--model-seed", "-1"], "must be >= 0, got -1"),
    Case("zero epochs", train_cli, [*TRAIN, "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    Case("unknown device", train_cli, [*TRAIN, "--device", "tpu"], "unknown device 'tpu'"),
    Case("missing config", train_cli, [*TRAIN, "--config", "configs/experiments/none.yaml"], "none.yaml: no such experiment config"),
    Case(
        "config that is not YAML",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "exp.yaml: not valid YAML",
        write("configs/experiments/exp.yaml", "task: [unclosed\n"),
    ),
    Case(
        "config with an unknown field",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "unknown field(s) ['lr']",
        config_with(lr="0.1"),
    ),
    Case("missing HPO best JSON", train_cli, [*TRAIN, "--hpo-best", "none.json"], "none.json: no such HPO best JSON"),
    Case(
        "HPO best that is not JSON",
        train_cli,
        [*TRAIN, "--hpo-best", "best.json"],
        "best.json: not valid JSON",
        write("best.json", "{not json"),
    ),
    Case(
        "changed data file",
        train_cli,
        TRAIN,
        "SP500_dataset_a20.parquet: changed (MD5 differs",
        lambda root: (root / "data/processed/v1/SP500_dataset_a20.parquet").open("ab").write(b"\0"),
    ),
    Case("zero timeout", hpo_cli, [*HPO, "--timeout", "0"], "argument --timeout: must be > 0, got 0"),
    Case(
        "search space that is not YAML",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "s.yaml: not valid YAML",
        write("s.yaml", "search_space: [\n"),
    ),
    Case(
        "search space with an unknown top-level key",
        hpo_cli,
        [*HPO, "--search-space", "s.yaml"],
        "unknown key(s) ['trials']",
        write("s.yaml", QUIET_SPACE + "trials: 5\n"),
    ),
    Case(
        "worker with zero trials",
        hpo_cli,
        ["worker", "--study", "x", "--storage", "sqlite:////nonexistent/o.db", "--n-trials", "0"],
        "argument --n-trials: must be >= 1, got 0",
    ),
    Case("demo with zero seeds", demo_cli, ["--seeds", "0"], "argument --seeds: must be >= 1, got 0"),
    Case(
        "phase with an unknown budget", experiments_cli, ["run", "--phase", "demo", "--budgets", "2 million"], "unknown budget '2 million'"
    ),
    Case("phase with an unknown horizon", experiments_cli, ["list", "--horizons", "1", "4"], "unknown horizon 4; expected one of"),
    Case("phase with an unknown timescale", experiments_cli, ["list", "--timescales", "hourly"], "unknown timescale 'hourly'"),
    Case("phase with an unknown task", experiments_cli, ["run", "--tasks", "threshold_4pct"], "unknown task 'threshold_4pct'"),
    Case("study with an unknown adjustment", experiments_cli, ["report", "--adjust", "bonferroni"], "invalid choice: 'bonferroni'"),
    Case(
        "phase borrowing from untuned tasks",
        experiments_cli,
        ["run", "--phase", "phase6a", "--budgets", "30K", "--tasks", "threshold_2pct"],
        "threshold_2pct borrows its 30K parameters from threshold_1pct, which this phase neither tunes nor has tuned",
    ),
    Case(
        "phase budget too small for the data",
        experiments_cli,
        ["run", "--phase", "demo", "--budgets", "10K", "--tasks", "threshold_1pct"],
        "no architecture lies within 5% of budget '10K'",
    ),
    Case("resampling a ticker never built", resample_cli, ["--ticker", "NOPE", "--timescale", "weekly"], "NOPE"),
    # overrides that are given are checked, never dropped (CLI and papermill share this path)
    Case("horizon 0", train_cli, [*TRAIN, "--horizon", "0"], "unknown horizon 0"),
    Case("empty task", train_cli, [*TRAIN, "--task", ""], "unknown task ''"),
    Case("empty timescale", train_cli, [*TRAIN, "--timescale", ""], "unknown timescale ''"),
    Case(
        "negative seed in a config",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "seed must be an integer >= 0, got -1",
        config_with(seed="-1"),
    ),
    # --no-verify skips the manifest, never the checks of the data itself
    *[
        Case(
            f"--no-verify with {what}",
            train_cli,
            [*TRAIN, "--config", "configs/experiments/exp.yaml", "--no-verify"],
            f"bad.parquet: {message}",
            bad_dataset(change),
        )
        for what, change, message in (
            ("shuffled rows", lambda df: df.sample(frac=1.0, random_state=0), "column 'Date' is not sorted"),
            ("a duplicate date", set_at("Date", 100, pd.Timestamp("1999-12-01")), "column 'Date' has duplicate dates"),
            ("a NaN close", set_at("Close", 100, float("nan")), "column 'Close' has NaN values"),
            ("a negative price", set_at("Low", 100, -1.0), "column 'Low' has non-positive prices"),
            ("High below Low", set_at("High", 100, 1.0), "column 'High' is below Low"),
            ("no Date column", lambda df: df.drop(columns=["Date"]), "missing column(s) ['Date']"),
        )
    ],
    Case("positive-class weight inf", train_cli, [*TRAIN, "--pos-weight", "inf"], "pos_weight has an invalid value inf"),
    Case("train fraction that leaves one window", train_cli, [*TRAIN, "--train-fraction", "0.0001"], "leaves 1 of"),
    Case(
        "worker wait of nan",
        hpo_cli,
        ["worker", "--study", "x", "--storage", "sqlite:////nonexistent/o.db", "--wait", "nan"],
        "must be a finite number, got nan",
    ),
    Case("ticker that is a path", resample_cli, ["--ticker", "../raw/SP500", "--timescale", "weekly"], "invalid ticker '../raw/SP500'"),
    Case(
        "calendar that does not span the ticker",
        resample_cli,
        ["--ticker", "SP500", "--timescale", "weekly", "--calendar", "VIX"],
        "the calendar VIX 2014-01-03..2019-01-03: 3774 of its 5031 days lie outside it",
    ),
    Case("manifest entry without an MD5", data_cli, ["build"], "files[0] lacks ['md5']; move it aside", edit_manifest(drop_md5)),
    Case(
        "binary manifest",
        data_cli,
        ["verify"],
        "manifest.json: not valid JSON (not UTF-8 text",
        lambda root: (root / "data/manifest.json").write_bytes(b"\x89\xff\x00"),
    ),
    Case(
        "binary experiment config",
        train_cli,
        [*TRAIN, "--config", "configs/experiments/exp.yaml"],
        "exp.yaml: not valid YAML (not UTF-8 text",
        lambda root: (root / "configs/experiments/exp.yaml").write_bytes(b"\xff\xfe\x00"),
    ),
    Case(
        "corrupt manifest",
        data_cli,
        ["verify"],
        "manifest.json: not valid JSON",
        write("data/manifest.json", '{"files": ['),
    ),
]


def snapshot(root: Path) -> dict:
    "Every file and folder under `root` with its size and modification time."
    return {
        str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def project(root, monkeypatch):
    "A private copy of the repo's data and configs, as the working directory."
    shutil.copytree(ROOT / "data", root / "data")
    shutil.copytree(ROOT / "configs", root / "configs")
    monkeypatch.chdir(root)
    yield root
    while HOLDERS:
        HOLDERS.pop().kill()


def test_there_are_enough_cases():
    assert len(CASES) >= 30 + 10 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(case, project, capsys):
    case.setup(project)
    before = snapshot(project)
    t0 = time.monotonic()
    try:
        rc = case.cli(case.argv)
    except SystemExit as e:
        rc = e.code  # argparse's own refusal
    seconds = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out[-2000:], err[-2000:])
    assert case.message in err, err[-2000:]
    assert "Traceback" not in out + err
    assert snapshot(project) == before, "the project changed"
    if "storage" in case.name:
        assert seconds < 20, f"{seconds:.0f} s to give up on a storage URL"


def test_a_mismatched_hpo_best_warns_and_names_the_difference(project, caplog):
    best_json({"epochs": 1}, task="threshold_3pct", horizon=1)(project)
    assert train_cli([*TRAIN, "--budget", "30k", "--hpo-best", "best.json", "--task", "threshold_1pct"]) == 0
    err = caplog.text
    assert "best.json was tuned for another run (task 'threshold_3pct', not 'threshold_1pct'; horizon 1, not 5)" in err
    written = sorted(p.name for p in (project / "outputs/results/spy_daily_threshold_1pct").iterdir())
    assert written == ["30K.json"]  # '30k' is the 30K model: one spelling, one file
    assert json.loads((project / "outputs/results/spy_daily_threshold_1pct/30K.json").read_text())["data_verified"] is True


def test_outputs_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic({"a": 1}, tmp_path / "r.json")
        write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path / "d.parquet")
        with atomic_path(tmp_path / "best.pt") as tmp:
            tmp.write_bytes(b"weights")
        assert data_dictionary_cli(["--root", str(ROOT), "--output", str(tmp_path / "dd.md"), "--force"]) == 0
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert modes == {n: "0o644" for n in ("r.json", "d.parquet", "best.pt", "dd.md")}
