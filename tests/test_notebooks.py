"Every notebook is a test: nbdev's runner executes it, skipping cells flagged in [tool.nbdev] tst_flags."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb

NBS = get_config().nbs_path
NOTEBOOKS = sorted(p for p in Path(NBS).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.delenv("FINTS_ROOT", raising=False)
    ok, secs = run_nb(nb, skip_flags=get_config().tst_flags.split(), showerr=True)
    assert ok, f"{nb} failed (traceback above)"
