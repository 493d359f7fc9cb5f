"HPO end to end: the CLI with W&B and MLflow, a study killed mid-trial, two workers on PostgreSQL, pruning."

import glob, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path
import optuna
import pytest
from optuna.trial import TrialState
from conftest import ROOT, bin_path
from fints_scaling.config import experiment_config
from fints_scaling.context import RunContext
from fints_scaling.hpo import create_objective, hpo_best_path, make_pruner
from fints_scaling.tracking import read_offline_run

CONFIG = "configs/experiments/spy_daily_threshold_1pct.yaml"
STUDY = "spy_daily_threshold_1pct_30K"


@pytest.fixture
def project(root):
    "A scratch project root that sees the repo's configs and built data (symlinks) and keeps its own outputs."
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    return root


def hpo(project, *args, **kw):
    return subprocess.run(
        [bin_path("fints-hpo"), *args], cwd=project, capture_output=True, text=True, env={**os.environ, "FINTS_ROOT": str(project)}, **kw
    )


def test_cli_writes_best_json_wandb_and_mlflow(project):
    p = hpo(project, "--config", CONFIG, "--budget", "30K", "--n-trials", "5")
    assert p.returncode == 0, p.stderr[-3000:]
    best = json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())
    assert best["study_name"] == STUDY and best["n_trials_completed"] + best["n_trials_pruned"] == 5
    assert set(best["best_params"]) == {"learning_rate", "epochs", "weight_decay", "warmup_steps", "dropout"}
    assert {"architecture", "seed", "split", "hpo_train_fraction", "data_md5", "optuna_version"} <= set(best)
    runs = sorted(glob.glob(str(project / "outputs/wandb/offline-run-*")))
    assert len(runs) == 5
    logged = [read_offline_run(r) for r in runs]
    assert all(any("val_loss" in h for h in r["history"]) for r in logged)
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{project}/outputs/mlflow.db")
    mruns = c.search_runs([c.get_experiment_by_name("phase6a-parameter-scaling").experiment_id])
    assert len(mruns) == 5 and all("params.learning_rate" in r.data.params for r in mruns)
    assert all(len(c.get_metric_history(r.info.run_id, "val_loss")) >= 1 for r in mruns)


def test_killed_study_resumes_to_n_trials(project):
    args = [
        "--config",
        CONFIG,
        "--budget",
        "30K",
        "--n-trials",
        "6",
        "--wandb-mode",
        "disabled",
        "--no-mlflow",
        "--heartbeat",
        "1",
        "--grace",
        "3",
    ]
    proc = subprocess.Popen(
        [bin_path("fints-hpo"), *args],
        cwd=project,
        env={**os.environ, "FINTS_ROOT": str(project)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    storage = f"sqlite:///{project}/outputs/hpo/optuna.db"
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name=STUDY, storage=storage).trials
        except (KeyError, Exception):
            continue
        if sum(t.state == TrialState.COMPLETE for t in trials) >= 2 and any(t.state == TrialState.RUNNING for t in trials):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t.value for t in optuna.load_study(study_name=STUDY, storage=storage).trials if t.state == TrialState.COMPLETE}
    assert len(before) >= 2
    time.sleep(3)
    p = hpo(project, *args)
    assert p.returncode == 0, p.stderr[-3000:]
    trials = optuna.load_study(study_name=STUDY, storage=storage).trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 6
    assert {t.number: t.value for t in trials if t.number in before} == before  # every completed trial kept
    assert any(t.state == TrialState.FAIL for t in trials)  # the killed one, failed by its stale heartbeat
    assert not any(t.state == TrialState.RUNNING for t in trials)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    "A PostgreSQL server on 127.0.0.1 in a scratch folder, stopped afterwards."
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]  # Debian's layout first
    if not found[-1]:
        pytest.fail("PostgreSQL is not installed: `make test` installs it with apt (Debian package postgresql)")
    bindir = Path(found[-1]).resolve().parent
    d = Path(tempfile.mkdtemp(prefix="fints-pg-"))
    os.chmod(d, 0o755)
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(d, "postgres")
    port = _free_port()
    run = lambda *a: subprocess.run(as_pg + [str(a[0]), *map(str, a[1:])], check=True, capture_output=True, text=True)
    run(bindir / "initdb", "-D", d / "data", "-A", "trust", "-U", "fints")
    run(bindir / "pg_ctl", "-D", d / "data", "-l", d / "log", "-w", "-o", f"-p {port} -h 127.0.0.1 -k {d}", "start")
    try:
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "fints", "optuna")
        yield f"postgresql+psycopg2://fints@127.0.0.1:{port}/optuna"
    finally:
        run(bindir / "pg_ctl", "-D", d / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(d, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(project, postgres):
    n = 10
    env = {**os.environ, "FINTS_ROOT": str(project)}
    quiet = ["--wandb-mode", "disabled", "--no-mlflow"]
    first = subprocess.Popen(
        [
            bin_path("fints-hpo"),
            "--config",
            CONFIG,
            "--budget",
            "30K",
            "--n-trials",
            str(n),
            "--storage",
            postgres,
            "--max-epochs",
            "10",
            *quiet,
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = subprocess.Popen(
        [bin_path("fints-hpo"), "worker", "--study", STUDY, "--storage", postgres, "--wait", "120", *quiet],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1[-3000:]
    assert second.returncode == 0, err2[-3000:]
    trials = optuna.load_study(study_name=STUDY, storage=postgres).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == n  # none twice, none lost, none extra
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    ran_by_worker = int(out2.split("ran ")[1].split()[0])
    print(f"worker ran {ran_by_worker} of {n} trials")
    assert ran_by_worker >= 1


def test_an_objective_built_to_be_pruned_is_pruned(project):
    space = {"learning_rate": {"type": "categorical", "choices": [3e-3, 1e-9]}, "epochs": {"type": "categorical", "choices": [12]}}
    ctx = RunContext(root=project, device="cpu", wandb_mode="disabled", mlflow=False)
    objective = create_objective(
        experiment_config(project / CONFIG, project, horizon=1), "30K", space, {"batch_size": 32, "patience": 100}, ctx
    )
    study = optuna.create_study(pruner=make_pruner({"enabled": True, "patience": 2, "min_trials": 2}))
    for lr in (3e-3, 3e-3, 1e-9):
        study.enqueue_trial({"learning_rate": lr, "epochs": 12})
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert len(study.trials[2].intermediate_values) < 12


def test_two_processes_on_one_sqlite_study_never_repeat_and_a_changed_rerun_is_refused(project):
    args = ["--config", CONFIG, "--budget", "30K", "--n-trials", "6", "--max-epochs", "2", "--wandb-mode", "disabled", "--no-mlflow"]
    env = {**os.environ, "FINTS_ROOT": str(project)}
    procs = [
        subprocess.Popen([bin_path("fints-hpo"), *args], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    trials = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{project}/outputs/hpo/optuna.db").trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    params = [tuple(sorted(t.params.items())) for t in finished]
    assert len(finished) >= 6 and len(set(params)) == len(params)  # no parameter set twice
    assert len({t.user_attrs["sampler_seed"] for t in finished}) == len(finished)
    print(
        "trials per process:", {w: sum(t.user_attrs["worker"] == w for t in finished) for w in {t.user_attrs["worker"] for t in finished}}
    )

    changed = hpo(project, *args[:6], "--max-epochs", "3", "--wandb-mode", "disabled", "--no-mlflow")
    assert changed.returncode == 2 and "was started with other settings (search_space" in changed.stderr and "--fresh" in changed.stderr
    assert "Traceback" not in changed.stderr
    best = json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())
    assert best["search_space"]["epochs"] == {"type": "categorical", "choices": [2]}  # the space the trials were drawn from
    assert best["best_params"]["epochs"] == 2


def test_processes_racing_for_the_last_trials_stop_at_exactly_n(tmp_path):
    "Four processes with a 50 ms objective on one SQLite study: counting and starting a trial is one claim, so none overshoots."
    storage = f"sqlite:///{tmp_path}/o.db"
    script = (
        "import sys, time, optuna\nfrom fints_scaling.hpo import make_storage, optimize\n"
        f"rdb = make_storage({storage!r})\nstudy = optuna.create_study(study_name='race', storage=rdb, load_if_exists=True)\n"
        "objective = lambda t: (time.sleep(0.05), t.suggest_float('x', 0, 1))[1]\n"
        "optimize(study, objective, 30, None, progress=False, poll_seconds=0.01, storage=rdb)\n"
    )
    optuna.create_study(study_name="race", storage=storage)
    procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    assert len(optuna.load_study(study_name="race", storage=storage).trials) == 30
