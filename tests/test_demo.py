"""The demo sweep, shrunk: real HPO and training runs through papermill, under two model seeds,
come back in the CSV, the scaling JSON and the report, all under --root, whatever folder it is started from."""

import json, os, subprocess
import pandas as pd
import pytest
from conftest import ROOT, UNTRACKED, bin_path


@pytest.mark.slow
def test_tiny_demo_round_trips_into_csv_and_report(root, tmp_path_factory):
    for d in ("configs", "data"):
        (root / d).symlink_to(ROOT / d)
    elsewhere = tmp_path_factory.mktemp("another_project")  # started from inside another project, with no FINTS_ROOT
    (elsewhere / "pyproject.toml").write_text("")
    (elsewhere / "nbs").mkdir()
    p = subprocess.run(
        [
            bin_path("fints-demo"),
            "--root",
            str(root),
            "--budgets",
            "15K",
            "30K",
            "--n-trials",
            "1",
            "--max-epochs",
            "2",
            "--seeds",
            "2",
            "--fractions",
            "0.5",
            "--fraction-budgets",
            "30K",
            "--n-boot",
            "50",
            *UNTRACKED,
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "FINTS_ROOT"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["nbs", "pyproject.toml"]  # nothing written where it was started
    assert f"notebooks     {root / 'outputs/runs/demo'}" in p.stdout
    assert "verdict: " in p.stdout and "majority" in p.stdout
    csv = pd.read_csv(root / "outputs/results/all_results.csv")
    assert sorted(csv.budget) == ["15K", "15K", "30K", "30K"] and set(csv.experiment) == {"demo_daily_threshold_1pct_h1"}
    for b in ("15K", "30K"):
        runs = [json.loads((root / f"outputs/results/demo_daily_threshold_1pct_h1/{b}{s}.json").read_text()) for s in ("", "_seed1")]
        assert [r["model_seed"] for r in runs] == [0, 1] and runs[0]["split"] == runs[1]["split"]  # seeds vary, the split does not
        assert runs[0]["predictions"]["window"] == runs[1]["predictions"]["window"]
        assert runs[0]["split"]["mode"] == "contiguous" and runs[0]["split"]["embargo"] == 200
        assert set(runs[0]["split"]["summary"]["test"]) == {"windows", "positives", "days"}
        assert abs(csv[csv.budget == b].test_loss.mean() - sum(r["metrics"]["test"]["loss"] for r in runs) / 2) < 1e-12
    frac = json.loads((root / "outputs/results/demo_daily_threshold_1pct_h1/30K_d0.5.json").read_text())
    assert frac["hyperparameters"]["epochs"] == 2 * runs[0]["hyperparameters"]["epochs"] and frac["train_days"] < runs[0]["train_days"]
    rep = json.loads((root / "outputs/figures/demo_daily_threshold_1pct_h1_scaling.json").read_text())
    assert rep["metric"] == "test_loss" and [d["budget"] for d in rep["data_points"]] == ["15K", "30K"]
    assert rep["fit_results"] is None and "not identifiable" in rep["interpretation"]  # two budgets identify no law
    assert rep["verdict"]["sentence"] and {c["against"] for c in rep["comparisons"]} == {"15K", "majority", "logistic"}
    md = (root / "outputs/results/summary_report.md").read_text()
    assert "| 15K |" in md and "| 30K |" in md and "**Verdict**" in md and "## HPO" in md and "| 30K vs 15K |" in md
    assert {c["against"] for c in rep["comparisons"]} and all(
        c["outcome"] in ("better", "worse", "no difference") for c in rep["comparisons"]
    )
    study = json.loads((root / "outputs/results/study_demo.json").read_text())
    assert [t["budget"] for t in study["tests"] if t["family"] == "skill"] == ["15K", "30K", "logistic"]
    assert f"study         {root / 'outputs/results/study_demo.md'}" in p.stdout
    assert (root / "outputs/figures/demo_daily_threshold_1pct_h1_scaling.png").exists() and (
        root / "outputs/figures/scaling_comparison_all_tasks.png"
    ).exists()
