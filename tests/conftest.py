import contextlib, os, shutil, sqlite3, subprocess, warnings
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

if workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # each worker, and every process it starts, on its share of the cores
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(workers))))


def pytest_collection_modifyitems(items):
    "Slow tests first, so that no worker starts one when the others are nearly done."
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def root(tmp_path, monkeypatch):
    "An empty project root for data written by a test; nothing lands in the real data/."
    monkeypatch.setenv("FINTS_ROOT", str(tmp_path))
    return tmp_path


def bin_path(name: str) -> str:
    "A console script of the project's venv (the one running pytest)."
    import sys

    return str(Path(sys.executable).parent / name)


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """`run(nb)` executes a notebook once per session with nbdev's runner, outputs saved, in a copy of nbs/ (`run.folder`) and a
    scratch project that sees the repo's data, configs and test data but keeps its own outputs: every notebook is a test
    (test_notebooks), and the docs site renders the same executions rather than running them all again."""
    from nbdev.config import get_config
    from nbdev.test import test_nb

    scratch, folder = tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("executed") / "nbs"
    for d in ("data", "configs", "nbs", "tests", "pyproject.toml"):
        (scratch / d).symlink_to(ROOT / d)
    shutil.copytree(ROOT / "nbs", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    done = {}

    def run(rel: str) -> bool:
        if rel not in done:
            before = os.environ.get("FINTS_ROOT")
            os.environ["FINTS_ROOT"] = str(scratch)
            try:
                with warnings.catch_warnings(record=True):  # a notebook's warnings are its content, and may be of classes it defines
                    done[rel] = test_nb(folder / rel, skip_flags=get_config().tst_flags.split(), save=True, showerr=True)[0]
            finally:
                os.environ.pop("FINTS_ROOT") if before is None else os.environ.update(FINTS_ROOT=before)
        return done[rel]

    run.folder = folder
    return run


def trials_in(db, state: str) -> int:
    """Trials an Optuna SQLite file `db` records in `state` (RUNNING, COMPLETE, ...), read with sqlite3 (opening the study through
    Optuna costs 60 ms of CPU, which a test polling it takes from the workers it waits on); 0 while the file or its tables do not exist."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = ?", (state,)).fetchone()[0]
    except sqlite3.Error:
        return 0


PHASE = ["--phase", "phase6a", "--budgets", "30K", "--tasks", "threshold_1pct", "threshold_2pct", "threshold_3pct", "--horizon", "1"]
# Tracking off: MLflow and W&B are checked where a test asserts on them (test_hpo, the fresh MLflow store in test_train).
UNTRACKED = ["--wandb-mode", "disabled", "--no-mlflow"]
PHASE_QUICK = ["--n-trials", "2", "--max-epochs", "3", "--train-epochs", "3", "--n-boot", "50", *UNTRACKED]  # a smoke run


def experiments(project, *args, decoy=None, rc=0, wait=True, **env):
    """`fints-experiments ... --root project` with FINTS_ROOT `decoy` (which --root overrides) and `env` added: its stdout, or its
    stderr where it must fail with exit code `rc`; the process itself if not `wait`."""
    cmd = [bin_path("fints-experiments"), *args, "--root", str(project)]
    env = {**os.environ, "FINTS_ROOT": str(decoy or project), "WANDB_MODE": "disabled", **env}
    if not wait:
        return subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    p = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)
    assert p.returncode == rc, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stderr if rc else p.stdout


@pytest.fixture(scope="session")
def small_phase(tmp_path_factory):
    """A small phase, run once a session through `fints-experiments run`, two notebooks at a time: 30K on threshold 1, 2 and 3 pct at
    horizon 1, so 2 HPO studies and 3 trainings (2 pct borrows). test_experiments checks what it ran; the README's phase commands run on
    a copy of it, as a user's second command finds the first one's results. Its stdout and the project; FINTS_ROOT, a decoy, stays empty."""
    project, decoy = tmp_path_factory.mktemp("phase"), tmp_path_factory.mktemp("decoy")
    for d in ("configs", "data"):
        (project / d).symlink_to(ROOT / d)
    out = experiments(project, "run", *PHASE, *PHASE_QUICK, "--jobs", "2", decoy=decoy)
    assert not any(decoy.iterdir()), sorted(map(str, decoy.rglob("*")))
    return project, out
