"The house reads in order: every module imports only what comes before it, and exported cells stay small."

import ast, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_CELL_LINES = 60


def _notebook(module: Path) -> str:
    "The notebook a generated module comes from, relative to nbs/."
    return re.search(r"File to edit: \.\./nbs/(\S+)\.ipynb", module.read_text()).group(1)


def _rank(nb: str) -> int:
    "Reading order: the notebook's number, one line through foundations (00-12) and stages (13-)."
    return int(Path(nb).name[:2])


MODULES = {p.stem: _notebook(p) for p in (ROOT / "fints_scaling").glob("*.py") if p.stem not in ("__init__", "_modidx")}


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "fints_scaling" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 1:
                names.add(node.module.split(".")[0])
            elif node.module.startswith("fints_scaling."):
                names.add(node.module.split(".")[1])
    return names & set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_backwards(module):
    "A foundation imports only earlier foundations; a stage, foundations and earlier stages."
    later = [m for m in _imports(module) if _rank(MODULES[m]) >= _rank(MODULES[module])]
    assert not later, f"{module} ({MODULES[module]}) imports {later} ({[MODULES[m] for m in later]}), which come after it"


def test_notebook_numbers_are_one_line():
    "No two notebooks share a number, in nbs/ or nbs/foundations/, and foundations come before stages."
    numbers = {}
    for nb in sorted((ROOT / "nbs").rglob("[0-9][0-9]_*.ipynb")):
        numbers.setdefault(int(nb.name[:2]), []).append(str(nb.relative_to(ROOT / "nbs")))
    assert not {n: nbs for n, nbs in numbers.items() if len(nbs) > 1}
    foundations = [n for n, (nb,) in numbers.items() if nb.startswith("foundations/")]
    assert max(foundations) < min(set(numbers) - set(foundations))


def test_stage_names():
    "The stage notebooks keep their names."
    stages = sorted(p.stem for p in (ROOT / "nbs").glob("[0-9][0-9]_*.ipynb"))
    for name in ("13_resample", "14_splits", "15_data_dictionary", "16_hpo", "17_train", "18_scaling", "19_aggregate"):
        assert name in stages


def test_exported_cells_are_small():
    "No exported cell is longer than MAX_CELL_LINES lines."
    long = []
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and src.startswith("#| export") and len(src.splitlines()) > MAX_CELL_LINES:
                long.append(f"{nb.relative_to(ROOT)} cell {i}: {len(src.splitlines())} lines")
    assert not long, "\n".join(long)
