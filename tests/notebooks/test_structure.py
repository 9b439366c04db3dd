"""Static checks of the notebooks (no kernel, no network): they are committed stripped,
carry a papermill-style ``parameters`` cell, say what to start, and define no logic.
"""

from __future__ import annotations

import ast
import sys

import nbformat
import pytest

from tests.notebooks.runner import (
    NOTEBOOK_NAMES,
    NOTEBOOKS_DIR,
    code_cells,
    load,
    parameters_index,
)

# What a notebook may import: Docent's client-facing packages, the standard library, and
# the display tools (rich tables, matplotlib plots). Anything else means the notebook is
# growing a pipeline of its own.
ALLOWED_IMPORT_ROOTS = {"ingest", "retrieval", "matplotlib", "rich", "IPython"}


def _python_source(cell_source: str) -> str:
    """The cell without IPython magics / shell escapes (not Python syntax)."""
    lines = cell_source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _parse(cell_source: str) -> ast.Module:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(_python_source(cell_source), "<cell>", "exec", flags=flags)
    assert isinstance(tree, ast.Module)
    return tree


def test_the_three_notebooks_exist():
    found = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert found == sorted(NOTEBOOK_NAMES)


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_is_valid_and_stripped(name):
    nb = load(name)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [], f"{name}: a code cell has outputs; run nbstripout"
        assert cell.execution_count is None, f"{name}: execution counts left; run nbstripout"
    assert "widgets" not in nb.metadata, f"{name}: widget state left; run nbstripout"


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_has_one_parameters_cell_of_plain_assignments(name):
    nb = load(name)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters', got {len(tagged)}"
    cell = nb.cells[parameters_index(nb)]
    assert cell.cell_type == "code"
    tree = _parse(cell.source)
    assert tree.body, f"{name}: the parameters cell is empty"
    for node in tree.body:
        assert isinstance(node, ast.Assign | ast.AnnAssign), (
            f"{name}: the parameters cell should hold only assignments (papermill-style), "
            f"found {type(node).__name__} at line {node.lineno}"
        )


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_says_what_to_start(name):
    nb = load(name)
    intro = "\n".join(c.source for c in nb.cells[:3] if c.cell_type == "markdown")
    assert "python -m standin" in intro, f"{name}: say how to start the stand-in"
    assert "ollama serve" in intro, f"{name}: say how to use a real Ollama"
    assert "OLLAMA_HOST" in intro, f"{name}: say how to point the notebook at the server"


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_defines_no_logic_of_its_own(name):
    nb = load(name)
    stdlib = set(sys.stdlib_module_names)
    for cell in code_cells(nb):
        for node in ast.walk(_parse(cell.source)):
            assert not isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ), f"{name}: notebooks call Docent's API, they define no functions or classes"
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            unexpected = roots - ALLOWED_IMPORT_ROOTS - stdlib
            assert not unexpected, f"{name}: unexpected imports {sorted(unexpected)}"


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_imports_docent(name):
    nb = load(name)
    sources = "\n".join(c.source for c in code_cells(nb))
    assert "from retrieval" in sources or "from ingest" in sources
