"The package and the notebooks agree: nbdev-export and nbdev-clean change nothing (checked on a copy, whatever git says)."

import filecmp, shutil, subprocess
from pathlib import Path
from conftest import ROOT, bin_path


def _copy_project(dst: Path) -> Path:
    for name in ("pyproject.toml", "nbs", "fints_scaling"):
        src = ROOT / name
        (
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            if src.is_dir()
            else shutil.copy2(src, dst / name)
        )
    return dst


def _diff(a: Path, b: Path, pattern: str) -> list[str]:
    files = sorted({p.relative_to(a) for p in a.rglob(pattern)} | {p.relative_to(b) for p in b.rglob(pattern)})
    return [str(f) for f in files if not ((a / f).exists() and (b / f).exists() and filecmp.cmp(a / f, b / f, shallow=False))]


def test_export_and_clean_leave_no_diff(tmp_path):
    copy = _copy_project(tmp_path)
    for cmd in ("nbdev-export", "nbdev-clean"):
        subprocess.run([bin_path(cmd)], cwd=copy, check=True, capture_output=True, text=True)
    assert _diff(ROOT / "fints_scaling", copy / "fints_scaling", "*.py") == [], "run `make export` and commit fints_scaling/"
    assert _diff(ROOT / "nbs", copy / "nbs", "*.ipynb") == [], "run `make export` (nbdev-clean) and commit nbs/"
