"Every notebook is a test: nbdev's runner executes every cell of it (once per session: the docs site renders the same run)."

from pathlib import Path
import pytest
from nbdev.config import get_config

pytestmark = pytest.mark.xdist_group("notebooks")  # one worker executes every notebook once for both files

NBS = get_config().nbs_path
NOTEBOOKS = sorted(p for p in Path(NBS).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb, executed):
    rel = str(nb.relative_to(NBS))
    assert executed(rel), f"{rel} failed (traceback above)"
