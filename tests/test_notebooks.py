"Every notebook is a test: nbdev's runner executes every cell of it."

from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb

NBS = get_config().nbs_path
NOTEBOOKS = sorted(p for p in Path(NBS).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch, tmp_path):
    # a scratch project that sees the repo (data, configs, notebooks, test data) but keeps its own outputs:
    # what the notebooks write (figures, results, studies) stays out of outputs/
    for d in ("data", "configs", "nbs", "tests", "pyproject.toml"):
        (tmp_path / d).symlink_to(Path(NBS).parent / d)
    monkeypatch.setenv("FINTS_ROOT", str(tmp_path))
    ok, secs = run_nb(nb, skip_flags=get_config().tst_flags.split(), showerr=True)
    assert ok, f"{nb} failed (traceback above)"
