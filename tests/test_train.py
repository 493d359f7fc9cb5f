"Training end to end: SIGKILL in epoch 3 and resume, thermal stop with checkpoint, the CLI, and papermill from the repo root."

import json, os, resource, signal, subprocess, sys, textwrap, time
from pathlib import Path
import psutil, pytest
import torch
from conftest import ROOT, UNTRACKED, bin_path
from fints_scaling.context import RunContext
from fints_scaling.device import ThermalGuard, ThermalStop
from fints_scaling.train import results_path, run_training
from fints_scaling.config import ExperimentCell
from fints_scaling.model import PatchTSTConfig, n_embedding_parameters, n_parameters

DATA = ROOT / "data/processed/v1/SP500_dataset_c.parquet"
HP = {"epochs": 6, "patience": 100, "batch_size": 64, "learning_rate": 1e-3}


@pytest.fixture
def config(root):
    p = root / "exp.yaml"
    p.write_text(f"data_path: {DATA}\ntask: threshold_1pct\nhorizon: 1\nseed: 7\n")
    return p


def train(config, root, **kw):
    return run_training(
        config, "20K", hyperparameters=HP, ctx=RunContext(root=root, wandb_mode="disabled", mlflow=False, progress=False), **kw
    )


def test_killed_run_resumes_and_matches_an_uninterrupted_one(config, root):
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from fints_scaling.context import RunContext
        from fints_scaling.train import run_training
        def kill(event, info):
            if event == "batch_end" and info["epoch"] == 3 and info["step"] == 2: os.kill(os.getpid(), signal.SIGKILL)
        ctx = RunContext(root=Path({str(root)!r}), wandb_mode="disabled", mlflow=False, progress=False)
        run_training(Path({str(config)!r}), "20K", hyperparameters={HP!r}, ctx=ctx, callbacks=[kill])
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "FINTS_ROOT": str(root)})
    assert p.returncode == -signal.SIGKILL, p.stderr
    out = results_path("exp", "20K", root=root)
    assert not out.exists() and not list(out.parent.glob("*")) if out.parent.exists() else True  # no JSON, not even a partial one
    last = torch.load(root / "outputs/checkpoints/exp/20K/last.pt", weights_only=True)
    assert last["epoch"] == 2 and len(last["history"]) == 2

    resumed = train(config, root)
    assert resumed["resumed_from_epoch"] == 2 and resumed["epochs"] == 6 and [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4, 5, 6]
    assert json.loads(out.read_text())["metrics"] == resumed["metrics"]
    assert {"seed", "config", "data_md5", "package_versions", "git_commit", "architecture", "hyperparameters", "params"} <= set(resumed)

    clean = train(config, root, fresh=True)  # the same run, never killed
    assert clean["resumed_from_epoch"] is None
    assert [round(h["val_loss"], 6) for h in clean["history"]] == [round(h["val_loss"], 6) for h in resumed["history"]]
    assert clean["metrics"]["test"] == resumed["metrics"]["test"]


def test_thermal_stop_saves_a_checkpoint(config, root):
    temps = iter([60.0, 60.0, 97.0])
    guard = ThermalGuard(providers={"fake": lambda: next(temps)}, sleep=lambda s: None)
    with pytest.raises(ThermalStop, match="state saved"):
        train(config, root, guard=guard)
    assert torch.load(root / "outputs/checkpoints/exp/20K/last.pt", weights_only=True)["epoch"] == 2
    assert not results_path("exp", "20K", root=root).exists()
    assert [e["status"] for e in guard.events] == ["ok", "ok", "stop"]


@pytest.mark.slow
def test_cli_trains_and_reports_bad_input(config, root):
    env = {**os.environ, "FINTS_ROOT": str(root)}
    ok = subprocess.run(
        [bin_path("fints-train"), "--config", str(config), "--budget", "20K", "--epochs", "2", *UNTRACKED],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip().splitlines()[-1]) == results_path("exp", "20K", root=root)
    # the console script's exit code and one line for a run that fails as it trains (test_bad_input calls the CLI on 40 more cases)
    bad = subprocess.run(
        [bin_path("fints-train"), "--config", str(config), "--budget", "20K", *UNTRACKED, "--learning-rate", "1e10"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "fints-train: diverged (loss NaN at epoch 1); try a learning rate below 1e+10" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_papermill_runs_the_train_notebook_from_the_repo_root(tmp_path, root):
    out = tmp_path / "train_30K_threshold_1pct.ipynb"
    for d in ("data", "configs"):
        (root / d).symlink_to(ROOT / d)
    env = {**os.environ, "FINTS_ROOT": str(root)}  # outputs go to the scratch root, not the repo's outputs/
    p = subprocess.run(
        [
            bin_path("papermill"),
            "nbs/17_train.ipynb",
            str(out),
            "-p",
            "budget",
            "30K",
            "-p",
            "task",
            "threshold_1pct",
            "-p",
            "wandb_mode",
            "disabled",
            "-p",
            "mlflow",
            "False",
            "-p",
            "hyperparameters",
            "{epochs: 3, learning_rate: 0.001}",  # -p gives text: it is read as YAML, not character by character
            "--no-progress-bar",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(results_path("spy_daily_threshold_1pct", "30K", root=root).read_text())
    assert r["budget"] == "30K" and abs(r["params"] / 30_000 - 1) <= 0.05 and r["hyperparameters"]["epochs"] == 3
    assert "Test AUC margin over 0.5" in out.read_text()
    again = subprocess.run(p.args, cwd=ROOT, capture_output=True, text=True, env=env)  # the same run again: it resumes, it does not restart
    assert again.returncode == 0, again.stderr[-3000:]
    r2 = json.loads(results_path("spy_daily_threshold_1pct", "30K", root=root).read_text())
    assert r2["resumed_from_epoch"] == r["epochs"] and r2["metrics"] == r["metrics"]


def test_two_trainings_open_a_fresh_mlflow_store_together(config, root):
    "Two budgets started together on a fresh project with MLflow on: both finish, and the store holds both runs."
    env = {**os.environ, "FINTS_ROOT": str(root)}
    procs = [
        subprocess.Popen(
            [bin_path("fints-train"), "--config", str(config), "--budget", b, "--epochs", "1", "--wandb-mode", "disabled"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in ("20K", "30K")
    ]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errs]
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{root}/outputs/mlflow.db")
    assert len(c.search_runs([c.get_experiment_by_name("phase6a-parameter-scaling").experiment_id])) == 2


def test_a_full_disk_while_checkpointing_is_named(config, root):
    "Files may grow to 128 KiB (RLIMIT_FSIZE, as a full disk would stop them): the first checkpoint fails, and says so in one line."

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (128 * 1024, 128 * 1024))

    cmd = [bin_path("fints-train"), "--config", str(config), "--budget", "20K", "--epochs", "1", *UNTRACKED]
    p = subprocess.run(cmd, env={**os.environ, "FINTS_ROOT": str(root)}, capture_output=True, text=True, preexec_fn=limit)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "last.pt: the checkpoint could not be written (" in p.stderr and "MiB free on its disk; is it full?)" in p.stderr
    assert "Traceback" not in p.stderr and not list((root / "outputs/checkpoints/exp/20K").glob(".*.tmp"))


def test_notebooks_resume_by_default():
    import papermill as pm

    for nb in ("16_hpo", "17_train"):
        params = pm.inspect_notebook(str(ROOT / "nbs" / f"{nb}.ipynb"))
        assert params["fresh"]["default"] == "False" and params["root"]["default"] == "None", nb


def test_one_run_one_writer_wait_and_stale_locks(config, root):
    lock = root / "outputs/checkpoints/exp/20K/run.lock"
    lock.parent.mkdir(parents=True)
    hold = lambda seconds: subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import fcntl, os, time; f = open({str(lock)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            f"f.truncate(0); f.write(f'PID {{os.getpid()}} on test'); f.flush(); print('held', flush=True); time.sleep({seconds})",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    dead = hold(600)
    assert dead.stdout.readline().strip() == "held"
    dead.kill()
    dead.wait()  # killed while holding: its lock file stays, its lock does not
    assert train(config, root, fresh=True)["epochs"] == 6

    busy = hold(600)
    assert busy.stdout.readline().strip() == "held"
    env = {**os.environ, "FINTS_ROOT": str(root)}
    cmd = [bin_path("fints-train"), "--config", str(config), "--budget", "20K", "--epochs", "1", *UNTRACKED]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and f"is in use by PID {busy.pid}" in refused.stderr, refused.stderr
    queued = subprocess.Popen([*cmd, "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    while queued.poll() is None and str(lock) not in {f.path for f in psutil.Process(queued.pid).open_files()}:
        time.sleep(0.1)  # until it waits at the lock
    assert queued.poll() is None, queued.communicate()
    busy.kill()
    busy.wait()
    _, err = queued.communicate(timeout=600)
    assert queued.returncode == 0, err  # it ran once the holder was gone


def test_a_pool_trains_on_both_series_and_judges_each(root):
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    ctx = RunContext(root=root, wandb_mode="disabled", mlflow=False, progress=False)
    res = run_training(root / "configs/experiments/pool_daily_threshold_1pct.yaml", "30K", hyperparameters={**HP, "epochs": 2}, ctx=ctx)
    assert list(res["series"]) == ["SP500", "NASDAQ", "MSFT"] and list(res["metrics_by_series"]) == ["SP500", "NASDAQ", "MSFT"]
    n = {s: res["series"][s]["summary"]["test"]["windows"] for s in res["series"]}
    assert res["samples"]["test"] == sum(n.values()) and res["predictions"]["series"].count("NASDAQ") == n["NASDAQ"]
    assert res["metrics_by_series"]["SP500"]["test"]["n"] == n["SP500"] and "logistic" in res["metrics_by_series"]["NASDAQ"]["baselines"]
    days = {s: {d for d, x in zip(res["predictions"]["day"], res["predictions"]["series"]) if x == s} for s in n}
    assert days["SP500"] == days["NASDAQ"] and len(days["MSFT"]) < len(
        days["SP500"]
    )  # one calendar: the same test dates; MSFT ends in 2017
    assert res["samples"]["train"] == sum(res["series"][s]["summary"]["train"]["windows"] for s in n)


def test_a_pool_with_a_series_embedding_trains_on_a_volatility_task(root):
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    ctx = RunContext(root=root, wandb_mode="disabled", mlflow=False, progress=False)
    cell = ExperimentCell(root / "configs/experiments/poolembed_daily_threshold_1pct.yaml", task="threshold_1vol", horizon=1)
    res = run_training(cell, "30K", hyperparameters={**HP, "epochs": 1}, ctx=ctx)
    arch = PatchTSTConfig(**res["architecture"])
    assert (res["experiment"], res["task"], arch.n_series) == ("poolembed_daily_threshold_1vol_h1", "threshold_1vol", 3)
    assert res["params"] == n_parameters(arch) and res["params_non_embedding"] == res["params"] - n_embedding_parameters(arch)
    rates = {s: v["summary"]["train"]["positives"] / v["summary"]["train"]["windows"] for s, v in res["series"].items()}
    assert max(rates.values()) - min(rates.values()) < 0.1, rates  # in each series' own volatility, the base rates are alike (1%: 25-54%)
