"A small phase run end to end through papermill, borrowed parameters, skipping finished runs, and generated scripts that run."

import contextlib, io, json, os, subprocess, sys
import pytest
from conftest import PHASE, PHASE_QUICK, ROOT, UNTRACKED, bin_path, experiments
from fints_scaling.experiments import Phase, experiments_cli, interpolate_params
from fints_scaling.hpo import hpo_best_path
from fints_scaling.train import results_path


@pytest.fixture
def project(root):
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    return root


def here(project, *args) -> str:
    "fints-experiments in this process, as its console script (which the small phase ran) calls it: its stdout."
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert experiments_cli([*args, "--root", str(project)]) == 0
    return out.getvalue()


def test_phase6a_matrix():
    m = Phase("phase6a").matrix()
    assert sum(r.kind == "hpo" for r in m) == 12 and sum(r.kind == "train" for r in m) == 16


@pytest.mark.slow
@pytest.mark.xdist_group("phase")  # the small phase's worker: test_readme uses it too
def test_small_phase_runs_borrows_skips_and_generates(small_phase):
    (project, out), args = small_phase, PHASE
    assert out.count("ran ") == 5  # 2 studies, 3 trainings, two at a time: the borrowing one after both studies
    cells = {x: f"phase6a_daily_threshold_{x}pct_h1" for x in (1, 2, 3)}
    b1, b2, b3 = (json.loads(hpo_best_path(cells[x], "30K", project).read_text()) for x in (1, 2, 3))
    assert b2["best_params"] == interpolate_params(b1["best_params"], b3["best_params"], 2, 1, 3)
    assert len(b2["borrowed_from"]) == 2
    r2 = json.loads(results_path(cells[2], "30K", root=project).read_text())
    assert r2["borrowed_from"] == b2["borrowed_from"] and r2["hyperparameters"]["learning_rate"] == b2["best_params"]["learning_rate"]
    assert r2["epochs"] <= 3 and r2["horizon"] == 1 and len(r2["predictions"]["day"]) == r2["samples"]["test"]
    assert sorted(p.name for p in (project / "outputs/runs/phase6a").iterdir()) == [
        "hpo_daily_threshold_1pct_h1_30K.ipynb",
        "hpo_daily_threshold_3pct_h1_30K.ipynb",
        "train_daily_threshold_1pct_h1_30K.ipynb",
        "train_daily_threshold_2pct_h1_30K.ipynb",
        "train_daily_threshold_3pct_h1_30K.ipynb",
    ]
    study = (project / "outputs/results/study_phase6a.md").read_text()
    assert "## Skill by cell and budget" in study and all(c in study for c in cells.values())
    again = here(project, "run", *args, *PHASE_QUICK)
    assert again.count("skipped (finished)") == 5

    # another horizon is another cell: nothing of horizon 1 is taken for it
    other = here(project, "run", *args, "--horizons", "3", "--dry-run")
    assert other.count("would run") == 5 and "skipped" not in other and "threshold_1pct_h3" in other
    priced = here(project, "run", *args, "--own-hpo", "--dry-run")  # threshold_2pct tuned on its own too: 2 more runs, the rest finished
    assert priced.count("would run") == 2 and priced.count("phase6a_own_daily_threshold_2pct_h1_30K") == 2

    gen = here(project, "generate", *args)
    scripts = [l for l in gen.split() if l.endswith(".py")]
    assert len(scripts) == 5
    readme = (project / "experiments/phase6a/README.md").read_text()
    assert readme.count("## ") == 5 and "borrowed from threshold_1pct, threshold_3pct" in readme
    train2 = project / "experiments/phase6a/train_daily_threshold_2pct_h1_30K.py"
    assert repr(b2["best_params"]["learning_rate"]) in train2.read_text()  # parameters inline
    p = subprocess.run(
        [sys.executable, str(train2)],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "FINTS_ROOT": str(project), "WANDB_MODE": "disabled"},
    )
    assert p.returncode == 0, p.stderr[-3000:]


def test_list_prices_the_matrix(project):
    out = here(
        project,
        "list",
        "--phase",
        "study",
        "--budgets",
        "15K",
        "30K",
        "--tasks",
        "threshold_1pct",
        "--horizons",
        "1",
        "3",
        "--seeds",
        "0",
        "1",
    )
    assert out.count("hpo ") == 4 and out.count("train ") == 8 and "daily_threshold_1pct_h3_30K_seed1" in out
    assert "2 cell(s); 4 HPO runs (at most" in out and " FLOPs" in out


def test_results_of_another_cell_are_refused(project):
    "A results file copied into another cell's folder would make two horizons one: the study refuses it, naming the file."
    train = [bin_path("fints-train"), "--experiment", "demo_daily_threshold_1pct_h1", "--horizon", "1", "--budget", "30K", "--epochs", "1"]
    p = subprocess.run([*train, "--root", str(project), *UNTRACKED], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]  # a real record of cell h1, trained without a notebook or a study
    h1 = results_path("demo_daily_threshold_1pct_h1", "30K", root=project)
    h3 = results_path("demo_daily_threshold_1pct_h3", "30K", root=project)
    h3.parent.mkdir(parents=True)
    rec = json.loads(h1.read_text())
    h3.write_text(json.dumps({**rec, "experiment": "demo_daily_threshold_1pct_h3"}))
    err = experiments(project, "report", "--phase", "demo", "--budgets", "30K", "--tasks", "threshold_1pct", "--horizons", "1", "3", rc=2)
    assert f"{h3}: holds the results of {{'task': 'threshold_1pct', 'horizon': 1, 'timescale': 'daily'}}" in err
