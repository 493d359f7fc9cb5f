"The house reads in order: every module imports only what comes before it, and exported cells stay small."

import ast, json, re
from pathlib import Path
import pytest
from fints_scaling.cluster import EXAMPLE_TAG

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


def _cells(nb: Path) -> list[tuple[str, str]]:
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(nb.read_text())["cells"]]


def _public_callables():
    "Every public function, and every public method of a public class, of the package: (name, function)."
    import importlib, inspect

    for module in sorted(MODULES):
        mod = importlib.import_module(f"fints_scaling.{module}")
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                yield f"{module}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                if "__init__" in vars(obj) and not hasattr(obj, "__dataclass_fields__"):  # a dataclass documents its fields
                    yield f"{module}.{name}", obj.__init__
                foreign = [b for b in obj.__mro__[1:] if not b.__module__.startswith("fints_scaling")]
                for k, v in vars(obj).items():
                    f = getattr(v, "f", getattr(v, "__func__", v))  # fastcore's patched classmethods keep the function as `f`
                    if k.startswith("_") or not inspect.isfunction(f) or any(hasattr(b, k) for b in foreign):
                        continue  # private, not a function, or an override whose parameters its base class documents
                    yield f"{module}.{name}.{k}", f


def test_public_functions_document_their_parameters():
    "Every public function or method with two or more parameters says what each one is (docments: a comment beside it)."
    import inspect
    from fastcore.docments import docments

    bare = []
    for name, f in _public_callables():
        params = [p for p in inspect.signature(f).parameters.values() if p.name not in ("self", "cls") and p.kind != p.VAR_KEYWORD]
        if len(params) >= 2 and (missing := [p.name for p in params if not docments(f).get(p.name)]):
            bare.append(f"{name}: {missing}")
    assert not bare, "parameters without a comment:\n" + "\n".join(bare)


def test_show_doc_entries_have_docstrings():
    "Every `show_doc(X)` in a notebook shows a docstring of X's own, never an empty entry."
    import importlib, inspect

    empty = []
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        cells = _cells(nb)
        exp = next((m.group(1) for _, s in cells if (m := re.search(r"#\| default_exp (\S+)", s))), None)
        if exp is None:
            continue
        ns = vars(importlib.import_module(f"fints_scaling.{exp}"))
        for kind, s in cells:
            for m in re.finditer(r"^show_doc\(([\w.]+)\)", s, re.M) if kind == "code" else ():
                head, *rest = m.group(1).split(".")
                obj = ns[head]
                for r in rest:
                    obj = p if isinstance(p := inspect.getattr_static(obj, r), property) else getattr(obj, r)
                obj = getattr(obj, "fget", None) or getattr(obj, "__func__", obj)
                doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
                if not doc or (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(")):  # a dataclass's generated signature
                    empty.append(f"{nb.relative_to(ROOT)}: {m.group(1)}")
    assert not empty, "show_doc entries without a docstring:\n" + "\n".join(empty)


MIN_EXAMPLE_SHARE = 0.70


def _defines(src: str) -> bool:
    "Whether an exported cell defines a function or class (not only constants or imports)."
    return any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.parse(src.removeprefix("#| export")).body)


def _is_example(src: str) -> bool:
    "A code cell that runs something: not exported, not only imports, not only show_doc."
    if src.startswith("#|"):
        return False
    body = [n for n in ast.parse(src).body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    shows = [n for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and getattr(n.value.func, "id", "") == "show_doc"]
    return len(body) > len(shows)


def test_exported_cells_are_followed_by_examples():
    "At least MIN_EXAMPLE_SHARE of the exported cells that define something are followed by an example before the next export."
    shown, bare = 0, []
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        cells = [(k, s) for k, s in _cells(nb) if k == "code"]
        for i, (_, s) in enumerate(cells):
            if not (s.startswith("#| export") and _defines(s)):
                continue
            following = [t for _, t in cells[i + 1 :]]
            until = next((j for j, t in enumerate(following) if t.startswith("#| export")), len(following))
            if any(_is_example(t) for t in following[:until]):
                shown += 1
            else:
                bare.append(f"{nb.relative_to(ROOT)}: {s.splitlines()[1][:80]}")
    share = shown / (shown + len(bare))
    assert share >= MIN_EXAMPLE_SHARE, f"{share:.0%} of exported cells are followed by an example; without one:\n" + "\n".join(bare)


def test_docstrings_are_whole():
    "No docstring is cut in two: a string statement right after it is dropped by Python, and the reader never sees it."
    cut = []
    for module in sorted(MODULES):
        for node in ast.walk(ast.parse((ROOT / "fints_scaling" / f"{module}.py").read_text())):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(body) > 1:
                if all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str) for n in body[:2]):
                    cut.append(f"{module}.{node.name}")
    assert not cut, cut


@pytest.mark.parametrize("nb", ["16_hpo", "17_train"])
def test_a_study_run_skips_the_examples(nb):
    """The notebooks a study runs: every cell above `parameters` that is neither a definition nor an import the run needs is an
    example (a test), tagged for `execute_notebook` to skip; nbdev's runner still runs it."""
    cells = json.loads((ROOT / "nbs" / f"{nb}.ipynb").read_text())["cells"]
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    params_at = next(i for i, t in enumerate(tags) if "parameters" in t)
    run_names = {
        n.id
        for c in cells[params_at:]
        if c["cell_type"] == "code"
        for n in ast.walk(ast.parse("".join(c["source"])))
        if isinstance(n, ast.Name)
    }
    for c, t in zip(cells[:params_at], tags):
        src = "".join(c["source"])
        if c["cell_type"] != "code" or src.startswith("#|"):
            continue
        imported = {
            (a.asname or a.name).split(".")[0]
            for n in ast.walk(ast.parse(src))
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
        assert (EXAMPLE_TAG in t) != bool(imported & run_names), f"{nb}: {src[:80]!r}"
