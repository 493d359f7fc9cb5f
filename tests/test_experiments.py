"A small phase run end to end through papermill, borrowed parameters, skipping finished runs, and generated scripts that run."

import json, os, subprocess, sys
import pytest
from conftest import ROOT, bin_path
from fints_scaling.experiments import Phase, interpolate_params
from fints_scaling.hpo import hpo_best_path
from fints_scaling.train import results_path


@pytest.fixture
def project(root):
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    return root


@pytest.fixture
def decoy(tmp_path_factory):
    "A FINTS_ROOT that --root overrides: nothing may land in it."
    d = tmp_path_factory.mktemp("decoy")
    yield d
    assert not any(d.iterdir()), sorted(map(str, d.rglob("*")))


def cli(project, *args, decoy=None):
    p = subprocess.run(
        [bin_path("fints-experiments"), *args, "--root", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "FINTS_ROOT": str(decoy or project), "WANDB_MODE": "disabled"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_phase6a_matrix():
    m = Phase("phase6a").matrix()
    assert sum(r.kind == "hpo" for r in m) == 12 and sum(r.kind == "train" for r in m) == 16


def test_small_phase_runs_borrows_skips_and_generates(project, decoy):
    args = ["--phase", "phase6a", "--budgets", "30K", "--tasks", "threshold_1pct", "threshold_2pct", "threshold_3pct", "--horizon", "1"]
    out = cli(project, "run", *args, "--n-trials", "2", "--max-epochs", "3", "--train-epochs", "3", decoy=decoy)
    assert out.count("ran ") == 5  # 2 studies, 3 trainings
    b1, b2, b3 = (json.loads(hpo_best_path(f"phase6a_threshold_{x}pct", "30K", project).read_text()) for x in (1, 2, 3))
    assert b2["best_params"] == interpolate_params(b1["best_params"], b3["best_params"], 2, 1, 3)
    assert len(b2["borrowed_from"]) == 2
    r2 = json.loads(results_path("phase6a_threshold_2pct", "30K", root=project).read_text())
    assert r2["borrowed_from"] == b2["borrowed_from"] and r2["hyperparameters"]["learning_rate"] == b2["best_params"]["learning_rate"]
    assert r2["epochs"] <= 3 and r2["horizon"] == 1
    assert sorted(p.name for p in (project / "outputs/runs/phase6a").iterdir()) == [
        "hpo_30K_threshold_1pct.ipynb",
        "hpo_30K_threshold_3pct.ipynb",
        "train_30K_threshold_1pct.ipynb",
        "train_30K_threshold_2pct.ipynb",
        "train_30K_threshold_3pct.ipynb",
    ]
    again = cli(project, "run", *args, "--n-trials", "2", "--max-epochs", "3", "--train-epochs", "3")
    assert again.count("skipped (finished)") == 5

    gen = cli(project, "generate", *args)
    scripts = [l for l in gen.split() if l.endswith(".py")]
    assert len(scripts) == 5
    readme = (project / "experiments/phase6a/README.md").read_text()
    assert readme.count("## ") == 5 and "borrowed from threshold_1pct, threshold_3pct" in readme
    train2 = project / "experiments/phase6a/train_30K_threshold_2pct.py"
    assert repr(b2["best_params"]["learning_rate"]) in train2.read_text()  # parameters inline
    p = subprocess.run(
        [sys.executable, str(train2)],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "FINTS_ROOT": str(project), "WANDB_MODE": "disabled"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
