"HPO end to end: the CLI with W&B and MLflow, a study killed mid-trial, two workers on PostgreSQL, pruning."

import glob, importlib.util, json, os, pwd, shutil, signal, socket, subprocess, sys, tempfile, time
from contextlib import contextmanager
from pathlib import Path
import optuna
import pytest
from optuna.trial import TrialState
from conftest import ROOT, UNTRACKED, bin_path, trials_in
from fints_scaling.config import ExperimentCell
from fints_scaling.context import RunContext
from fints_scaling.hpo import claim_lock, create_objective, hpo_best_path, hpo_cli, make_pruner, make_storage
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
    p = hpo(project, "--config", CONFIG, "--budget", "30K", "--n-trials", "3", "--max-epochs", "3")
    assert p.returncode == 0, p.stderr[-3000:]
    best = json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())
    assert best["study_name"] == STUDY and best["n_trials_completed"] + best["n_trials_pruned"] == 3
    assert set(best["best_params"]) == {"learning_rate", "epochs", "weight_decay", "warmup_steps", "dropout"}
    assert {"architecture", "seed", "split", "hpo_train_fraction", "data_md5", "optuna_version"} <= set(best)
    runs = sorted(glob.glob(str(project / "outputs/wandb/offline-run-*")))
    assert len(runs) == 3
    logged = [read_offline_run(r) for r in runs]
    assert all(any("val_loss" in h for h in r["history"]) for r in logged)
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{project}/outputs/mlflow.db")
    mruns = c.search_runs([c.get_experiment_by_name("phase6a-parameter-scaling").experiment_id])
    assert len(mruns) == 3 and all("params.learning_rate" in r.data.params for r in mruns)
    assert all(len(c.get_metric_history(r.info.run_id, "val_loss")) >= 1 for r in mruns)


@pytest.mark.slow
def test_killed_study_resumes_to_n_trials(project):
    args = [
        "--config",
        CONFIG,
        "--budget",
        "30K",
        "--n-trials",
        "4",
        "--max-epochs",
        "4",
        *UNTRACKED,
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
    storage, db = f"sqlite:///{project}/outputs/hpo/optuna.db", project / "outputs/hpo/optuna.db"
    deadline = time.time() + 240
    while time.time() < deadline and not (trials_in(db, "COMPLETE") >= 2 and trials_in(db, "RUNNING")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t.value for t in optuna.load_study(study_name=STUDY, storage=storage).trials if t.state == TrialState.COMPLETE}
    assert len(before) >= 2
    time.sleep(3)
    p = hpo(project, *args)
    assert p.returncode == 0, p.stderr[-3000:]
    trials = optuna.load_study(study_name=STUDY, storage=storage).trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 4
    assert {t.number: t.value for t in trials if t.number in before} == before  # every completed trial kept
    assert any(t.state == TrialState.FAIL for t in trials)  # the killed one, failed by its stale heartbeat
    assert not any(t.state == TrialState.RUNNING for t in trials)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_binaries(source: str = "any") -> Path | None:
    "The folder of initdb and pg_ctl: Debian's package, else one on PATH (Homebrew), else the pgserver wheel's (`source` picks one)."
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) + [w for w in [shutil.which("initdb")] if w]
    if found and source in ("any", "system"):
        return Path(found[0]).resolve().parent
    if source in ("any", "pgserver") and (spec := importlib.util.find_spec("pgserver")):  # found, not imported: its import has side effects
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    return None


@contextmanager
def postgres_server(bindir: Path | None, what: str):
    "A PostgreSQL server from `bindir` on 127.0.0.1 in a scratch folder, with an empty database; its URL. Stopped afterwards."
    if bindir is None:
        pytest.skip(f"{what} is not installed (`make sysdeps` says how)")
    as_pg = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no unprivileged 'postgres' account for PostgreSQL to run as")
        as_pg = ["runuser", "-u", "postgres", "--"]
    d = Path(tempfile.mkdtemp(prefix="fints-pg-"))
    os.chmod(d, 0o755)
    if as_pg:
        shutil.chown(d, "postgres")
    port = _free_port()
    run = lambda *a: subprocess.run(as_pg + [str(a[0]), *map(str, a[1:])], check=True, capture_output=True, text=True)
    run(bindir / "initdb", "-D", d / "data", "-A", "trust", "-U", "fints")
    run(bindir / "pg_ctl", "-D", d / "data", "-l", d / "log", "-w", "-o", f"-p {port} -h 127.0.0.1 -k {d}", "start")
    try:
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "fints", "optuna")
        yield f"postgresql://fints@127.0.0.1:{port}/optuna"  # the URL users write: SQLAlchemy's default driver, psycopg 3
    finally:
        run(bindir / "pg_ctl", "-D", d / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def postgres():
    "A scratch PostgreSQL server: the system's where installed, else the pgserver wheel's."
    with postgres_server(postgres_binaries(), "PostgreSQL") as url:
        yield url


def test_the_pgserver_wheel_serves_a_shared_study():
    "The server that needs neither root nor a system package: two storages on it see one study, trials counted under its lock."
    with postgres_server(postgres_binaries("pgserver"), "The pgserver wheel") as url:
        rdb = make_storage(url)
        study = optuna.create_study(study_name="s", storage=rdb)
        with claim_lock(rdb, "s"):  # PostgreSQL's advisory lock
            study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        assert len(optuna.load_study(study_name="s", storage=make_storage(url)).trials) == 3


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study(project, postgres):
    n = 6
    env = {**os.environ, "FINTS_ROOT": str(project)}
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
            "5",
            *UNTRACKED,
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = subprocess.Popen(
        [bin_path("fints-hpo"), "worker", "--study", STUDY, "--storage", postgres, "--wait", "120", *UNTRACKED],
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
    space = {"learning_rate": {"type": "categorical", "choices": [3e-3, 1e-9]}, "epochs": {"type": "categorical", "choices": [6]}}
    ctx = RunContext(root=project, device="cpu", wandb_mode="disabled", mlflow=False)
    objective = create_objective(ExperimentCell(project / CONFIG, horizon=1), "30K", space, {"batch_size": 64, "patience": 100}, ctx)
    study = optuna.create_study(pruner=make_pruner({"enabled": True, "patience": 2, "min_trials": 2}))
    for lr in (3e-3, 3e-3, 1e-9):
        study.enqueue_trial({"learning_rate": lr, "epochs": 6})
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert len(study.trials[2].intermediate_values) < 6  # stopped before its last epoch


@pytest.mark.slow
def test_two_processes_on_one_sqlite_study_never_repeat_and_a_changed_rerun_is_refused(project, monkeypatch, capsys):
    """MLflow on: two processes on a fresh project open its store together. Then a changed rerun is refused, a longer one extends
    (both in this process: `hpo_cli` is what the console script runs)."""
    args = ["--config", CONFIG, "--budget", "30K", "--n-trials", "6", "--max-epochs", "2", "--wandb-mode", "disabled"]
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

    monkeypatch.chdir(project)
    monkeypatch.setenv("FINTS_ROOT", str(project))
    capsys.readouterr()
    assert hpo_cli([*args[:6], "--max-epochs", "3", *UNTRACKED]) == 2
    changed = capsys.readouterr().err
    assert "was started with other settings (search_space" in changed and "--fresh" in changed and "Traceback" not in changed
    best = json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())
    assert best["search_space"]["epochs"] == {"type": "categorical", "choices": [2]}  # the space the trials were drawn from
    assert best["best_params"]["epochs"] == 2
    assert "search_space.epochs.choices: [2] then, [3] now" in changed  # the change itself, not a cut-off dump

    assert hpo_cli([*args[:5], "8", *args[6:]]) == 0, capsys.readouterr().err[-2000:]  # a finished study takes more trials, no --fresh
    assert json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())["n_trials_completed"] >= 6
    trials = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{project}/outputs/hpo/optuna.db").trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 8
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{project}/outputs/mlflow.db")
    assert len(c.search_runs([c.get_experiment_by_name("phase6a-parameter-scaling").experiment_id])) >= 8


def test_a_diverging_trial_is_pruned_and_the_study_goes_on(project, monkeypatch):
    "In this process: `hpo_cli` is what the console script runs."
    (project / "s.yaml").write_text("search_space:\n  learning_rate: {type: categorical, choices: [1.0e+10, 1.0e-3]}\n")
    monkeypatch.chdir(project)
    monkeypatch.setenv("FINTS_ROOT", str(project))
    args = ["--config", CONFIG, "--budget", "30K", "--n-trials", "6", "--max-epochs", "2", "--search-space", "s.yaml", *UNTRACKED]
    assert hpo_cli(args) == 0
    trials = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{project}/outputs/hpo/optuna.db").trials
    diverged = [t for t in trials if "diverged" in t.user_attrs]
    assert diverged and all(t.state == TrialState.PRUNED and t.params["learning_rate"] == 1e10 for t in diverged)
    assert diverged[0].user_attrs["diverged"].startswith("diverged (loss NaN at epoch 1)")
    best = json.loads(hpo_best_path("spy_daily_threshold_1pct", "30K", project).read_text())
    assert best["best_params"]["learning_rate"] == 1e-3 and best["n_trials_diverged"] == len(diverged)


@contextmanager
def ctrl_c_as_from_a_terminal():
    """A process started inside takes Ctrl-C as one started from a terminal does. pytest started in the background (`make test &`,
    some CI runners) ignores SIGINT, and a child inherits that: a worker it starts would train on through Ctrl-C, rightly."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_live_worker_refuses_fresh_and_ends_in_one_line_on_ctrl_c(project):
    """Two processes on a fresh project, MLflow on: one runs a trial, the other asks for --fresh and is refused, naming it; then
    Ctrl-C inside the trial ends the worker in one line."""
    (project / "long.yaml").write_text(  # trials that outlast the second process's start: 200 epochs, no early stop
        "search_space:\n  epochs: {type: categorical, choices: [200]}\n  patience: {type: categorical, choices: [200]}\n"
    )
    args = ["--config", CONFIG, "--budget", "30K", "--n-trials", "3", "--search-space", "long.yaml", "--wandb-mode", "disabled"]
    env = {**os.environ, "FINTS_ROOT": str(project)}
    with ctrl_c_as_from_a_terminal():
        worker = subprocess.Popen(
            [bin_path("fints-hpo"), *args], cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    try:
        deadline, db = time.time() + 240, project / "outputs/hpo/optuna.db"
        while time.time() < deadline and worker.poll() is None and not trials_in(db, "RUNNING"):
            time.sleep(0.2)
        fresh = hpo(project, *args, "--fresh")
        assert fresh.returncode == 2, fresh.stderr[-2000:]
        assert f"running trial(s), worker {socket.gethostname()}:{worker.pid}: stop it, or wait for it" in fresh.stderr
        assert "Traceback" not in fresh.stderr and trials_in(db, "RUNNING") == 1
        worker.send_signal(signal.SIGINT)
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 130 and "fints-hpo: interrupted" in err and "Traceback" not in err, err[-2000:]
    finally:
        worker.kill()
        worker.communicate()


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


def test_a_pool_with_a_series_embedding_is_tuned_and_trained_with_its_best_parameters(project):
    "HPO on a pool (SP500, NASDAQ and MSFT, a vector per series) through the same route as one series: its best JSON trains the pool."
    from fints_scaling.hpo import StudySettings, run_hpo
    from fints_scaling.train import run_training

    ctx = RunContext(root=project, wandb_mode="disabled", mlflow=False, progress=False)
    cell = ExperimentCell("configs/experiments/poolembed_daily_threshold_1pct.yaml", horizon=1)
    best = run_hpo(cell, "30K", StudySettings(n_trials=2, max_epochs=2), ctx=ctx)
    assert best["experiment"] == "poolembed_daily_threshold_1pct_h1" and best["architecture"]["n_series"] == 3
    assert best["n_trials_completed"] + best["n_trials_pruned"] == 2
    res = run_training(cell, "30K", hpo_best=hpo_best_path(best["experiment"], "30K", project), strict=True, ctx=ctx)
    assert res["architecture"] == best["architecture"] | {"dropout": res["hyperparameters"]["dropout"]}
    assert list(res["series"]) == ["SP500", "NASDAQ", "MSFT"] and res["data_md5"] == best["data_md5"]
