from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path, monkeypatch):
    "An empty project root for data written by a test; nothing lands in the real data/."
    monkeypatch.setenv("FINTS_ROOT", str(tmp_path))
    return tmp_path


def bin_path(name: str) -> str:
    "A console script of the project's venv (the one running pytest)."
    import sys

    return str(Path(sys.executable).parent / name)
