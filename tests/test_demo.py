"The demo sweep, shrunk: real HPO and training runs through papermill come back in the CSV, the scaling JSON and the report."
import json, os, subprocess
import pandas as pd
from conftest import ROOT, bin_path

def test_tiny_demo_round_trips_into_csv_and_report(root):
    for d in ("configs", "data"): (root/d).symlink_to(ROOT/d)
    p = subprocess.run([bin_path("fints-demo"), "--budgets", "10K", "20K", "--n-trials", "1", "--max-epochs", "2", "--fractions", "0.5",
                        "--fraction-budgets", "20K", "--n-boot", "20"], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "FINTS_ROOT": str(root)})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "alpha = " in p.stdout and "majority" in p.stdout
    csv = pd.read_csv(root/"outputs/results/all_results.csv")
    assert sorted(csv.budget) == ["10K", "20K"] and set(csv.experiment) == {"demo_threshold_1pct"}
    for b in ("10K", "20K"):
        r = json.loads((root/f"outputs/results/demo_threshold_1pct/{b}.json").read_text())
        assert csv.set_index("budget").loc[b, "params"] == r["params"]
        assert abs(csv.set_index("budget").loc[b, "val_loss"] - r["metrics"]["val"]["loss"]) < 1e-12
    assert (root/"outputs/results/demo_threshold_1pct/20K_d0.5.json").exists()
    rep = json.loads((root/"outputs/figures/demo_threshold_1pct_scaling.json").read_text())
    assert [d["budget"] for d in rep["data_points"]] == ["10K", "20K"] and rep["fit_results"]["alpha_ci95"]
    md = (root/"outputs/results/summary_report.md").read_text()
    assert "| 10K |" in md and "| 20K |" in md and "alpha = " in md and "## HPO" in md and "majority val loss" in md
    assert (root/"outputs/figures/demo_threshold_1pct_scaling.png").exists() and (root/"outputs/figures/scaling_comparison_all_tasks.png").exists()
