"""The study matrix on a real local Ray cluster (a head and a worker node on 127.0.0.1): a worker killed mid-task, its run retried
and resumed; the same results as the local executor; nothing run twice."""

import json, os, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path
import psutil, pytest
from conftest import ROOT, UNTRACKED, bin_path, experiments, trials_in
from fints_scaling.experiments import experiments_cli

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]  # one cluster for the module

pytest.importorskip("ray", reason="Ray is the optional extra [ray], which make test installs")

SMOKE = ["--phase", "study", "--tasks", "threshold_1pct", "--n-trials", "2", "--max-epochs", "2", "--train-epochs", "1", "--n-boot", "50"]
SMOKE += [*UNTRACKED, "--device", "cpu"]
MATRIX = ["--budgets", "15K", "30K", "--horizons", "1", "--seeds", "0"]  # 2 HPO studies side by side, then 2 training runs
RAY = ["--executor", "ray", "--heartbeat", "2", "--grace", "6"]  # a trial whose worker died is failed 6 s after its last heartbeat


@pytest.fixture(scope="module")
def cluster():
    "A Ray cluster of two nodes of one CPU each, the second with a resource of its own; stopped, even when a test fails."
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("FINTS_ROOT", "RAY_ADDRESS")} | {"RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={tmp}"]
    nodes = []

    def start(name, *args):
        log = open(f"{tmp}/{name}.log", "w")
        nodes.append(
            subprocess.Popen(
                [bin_path("ray"), "start", *common, *args], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        )
        deadline = time.time() + 180
        while "Ray runtime started" not in open(log.name).read():
            assert nodes[-1].poll() is None and time.time() < deadline, open(log.name).read()[-3000:]
            time.sleep(0.5)

    try:
        start("head", "--head", f"--port={port}", "--include-dashboard=false")
        start("worker", f"--address=127.0.0.1:{port}", '--resources={"second_node": 1}')
        yield f"127.0.0.1:{port}"
    finally:
        for p in reversed(nodes):
            os.killpg(p.pid, signal.SIGTERM)
        for p in nodes:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def project(path):
    "A project that shares the repo's configs and data and has outputs of its own."
    path.mkdir()
    for d in ("configs", "data"):
        (path / d).symlink_to(ROOT / d)
    return path


def results(root) -> dict:
    "Every results JSON of a project by its path under outputs/results."
    base = root / "outputs" / "results"
    return {p.relative_to(base).as_posix(): json.loads(p.read_text()) for p in sorted(base.glob("study_*/*.json"))}


def kill_worker_of(ws: Path, run: subprocess.Popen):
    "Once the study in the task workspace `ws` has a finished trial, SIGKILL the Ray worker running it (the kernel's parent)."
    deadline = time.time() + 300
    while sum(trials_in(db, "COMPLETE") for db in ws.glob("outputs/hpo/*.db")) < 1:
        assert run.poll() is None and time.time() < deadline, run.communicate()
        time.sleep(0.2)
    kernels = [p for p in psutil.process_iter(["cmdline", "cwd"]) if p.info["cwd"] == str(ws) and "ipykernel" in str(p.info["cmdline"])]
    [worker] = {k.parent() for k in kernels}
    assert worker.cmdline()[0] == "ray::execute_notebook_task", worker.cmdline()
    worker.kill()


def test_matrix_on_ray_retries_a_killed_worker_equals_the_local_run_and_resumes(cluster, tmp_path):
    on_ray, here = project(tmp_path / "ray"), project(tmp_path / "local")
    run = experiments(on_ray, "run", *SMOKE, *MATRIX, *RAY, "--address", cluster, wait=False)
    kill_worker_of(on_ray.resolve() / "outputs/cluster/hpo_study_daily_threshold_1pct_h1_30K", run)  # 30K's study, mid-run
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, out[-3000:] + err[-3000:]
    assert "4 ran, 0 skipped (finished before), 1 retried, 0 failed" in out
    record = {r["key"]: r for r in json.loads((on_ray / "outputs/runs/study/cluster.json").read_text())}
    hpo = record["hpo study_daily_threshold_1pct_h1_30K"]
    assert hpo["attempts"] == 2 and len(hpo["retries"]) == 1 and "died" in hpo["retries"][0], hpo
    assert all(r["status"] == "ran" for r in record.values()) and sum(r["attempts"] for r in record.values()) == 5
    # 2 trials per study: the retry resumed the killed one in its workspace (1 + 1, not 1 + 2)
    assert sum(trials_in(db, "COMPLETE") for db in (on_ray / "outputs/cluster").glob("*/outputs/hpo/*.db")) == 4
    assert len(list((on_ray / "outputs/runs/study").glob("*.ipynb"))) == 4  # every executed notebook came back
    kept = [k["path"] for r in record.values() if r["key"].startswith("train") for k in r["kept"]]
    assert kept and all(k.endswith((".pt", ".lock")) and "/outputs/cluster/" in k for k in kept)  # checkpoints stay with the worker
    assert not (on_ray / "outputs/checkpoints").exists()
    assert "## Skill by cell and budget" in (on_ray / "outputs/results/study_study.md").read_text()

    # the local executor, two runs at a time, same seeds, from the same tuned parameters, on one thread as Ray gives a task of one CPU:
    # the same numbers
    shutil.copytree(on_ray / "outputs/hpo", here / "outputs/hpo")
    assert experiments(here, "run", *SMOKE, *MATRIX, "--jobs", "2", OMP_NUM_THREADS="1").count("skipped (finished)") == 2
    a, b = results(on_ray), results(here)
    assert len(a) == 2 and a.keys() == b.keys()
    for name in a:
        assert a[name]["hyperparameters"] == b[name]["hyperparameters"] and a[name]["model_seed"] == b[name]["model_seed"], name
        assert a[name]["predictions"] == b[name]["predictions"] and a[name]["metrics"] == b[name]["metrics"], name

    again = experiments(on_ray, "run", *SMOKE, *MATRIX, *RAY, "--address", cluster)
    assert "0 ran, 4 skipped (finished before), 0 retried, 0 failed" in again


def test_without_ray_the_executor_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # an installation without the extra: `import ray` fails
    root = project(tmp_path / "p")
    assert experiments_cli(["run", *SMOKE, "--budgets", "30K", "--executor", "ray", "--root", str(root)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fints-experiments: --executor ray needs Ray, an optional extra: pip install -e '.[ray]' (or pip install 'ray>=2.40')"
    ]
    assert not (root / "outputs" / "runs").exists()
