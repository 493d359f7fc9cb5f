"""Every command README.md shows runs as written on a project with built data and a finished small phase: each is taken from the
README itself, run from the project root with short overrides appended (the last value of a flag wins), and must exit 0."""

import os, re, shlex, shutil, subprocess, sys
import pytest
from conftest import PHASE_QUICK, ROOT, UNTRACKED, bin_path

OVERRIDES = {  # what shrinks each command to a smoke run; the command itself is the README's
    "fints-hpo": ["--budget", "30K", "--n-trials", "2", "--max-epochs", "1", *UNTRACKED],
    "fints-train": ["--budget", "30K", "--hpo-best", "outputs/hpo/spy_daily_threshold_1pct/30K_best.json", "--epochs", "1", *UNTRACKED],
    # the small phase's first cell, whose outputs the project holds: `run` finds its study and training finished, `report` reads them
    "fints-experiments": ["--budgets", "30K", "--tasks", "threshold_1pct", *PHASE_QUICK, "--jobs", "2"],
    ".venv/bin/python bench/train_step.py": ["--steps", "2"],
    "papermill nbs/16_hpo.ipynb": ["-p", "budget", "30K", "-p", "n_trials", "2", "-p", "max_epochs", "1", "-p", "wandb_mode", "disabled"],
    "papermill nbs/17_train.ipynb": [
        "-p",
        "budget",
        "30K",
        "-p",
        "hpo_best",
        "outputs/hpo/spy_daily_threshold_1pct/30K_best.json",
        "-y",
        "hyperparameters: {epochs: 1}",
        "-p",
        "wandb_mode",
        "disabled",
        "--no-progress-bar",
    ],
}
ELSEWHERE = {
    "make": "the Makefile is what CI runs",
    "fints-demo": "tests/test_demo.py runs it, shrunk",
    "fints-hpo worker": "it joins a shared study: tests/test_hpo.py runs one on PostgreSQL",
    ".venv/bin/python bench/train_step.py --device cuda": "it needs a CUDA device; the CPU line above runs the same script",
    "fints-pooling": "it compares finished runs of two experiments: the study notebook runs it on synthetic ones",
    "fints-experiments run --executor ray": "it needs a Ray cluster: tests/test_cluster.py starts one on 127.0.0.1 and runs a matrix on it",
}


def readme_commands() -> list[str]:
    "Shell lines of the README's sh blocks and the commands in its table cells, in the order a reader meets them."
    found, block = [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            block = [] if line == "```sh" else None
            continue
        if block is not None:
            found.append(line.split("#")[0].strip())
        elif line.startswith("|"):
            found += re.findall(r"`((?:fints-|papermill)[^`]*)`", line)
    return [c for c in found if c and not c.startswith(tuple(ELSEWHERE))]


def test_the_readme_shows_both_notebook_runs():
    cmds = readme_commands()
    assert any(c.startswith("papermill nbs/16_hpo.ipynb") for c in cmds) and any(c.startswith("papermill nbs/17_train.ipynb") for c in cmds)
    assert all("..." not in c for c in cmds), [c for c in cmds if "..." in c]  # no placeholders: each runs as written


@pytest.mark.slow
@pytest.mark.xdist_group("phase")
def test_every_readme_command_runs(root, small_phase):
    for d in ("data", "configs"):
        shutil.copytree(ROOT / d, root / d)
    shutil.copytree(small_phase[0] / "outputs", root / "outputs")  # the phase test checks that run; here it is found finished
    (root / "nbs").symlink_to(ROOT / "nbs")
    env = {**os.environ, "FINTS_ROOT": str(root)}
    for cmd in readme_commands():
        argv = [a for a in shlex.split(cmd) if not a.startswith("[")]  # `[--force]`: optional
        extra = next((v for k, v in OVERRIDES.items() if cmd.startswith(k)), [])
        if argv[0] == ".venv/bin/python":  # a script of the repo, such as a benchmark, run by the venv's Python
            argv = [sys.executable, str(ROOT / argv[1]), *argv[2:], *extra]
        else:
            argv = [shutil.which(argv[0]) if argv[0] == "mkdir" else bin_path(argv[0]), *argv[1:], *extra]
        p = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, (cmd, p.stdout[-1500:], p.stderr[-3000:])
        if cmd.startswith("fints-experiments run"):
            assert p.stdout.count("skipped (finished)") == 2, p.stdout
        print(f"ok: {cmd}")
    assert (root / "outputs/runs/train_2M_threshold_1pct.ipynb").exists() and (root / "docs/data_dictionary.md").exists()
