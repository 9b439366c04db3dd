"""Executing the notebooks the way CI does: papermill-style parameters, nbclient, a probe.

- :func:`inject_parameters` adds a cell tagged ``injected-parameters`` right after the
  cell tagged ``parameters`` (what papermill does), so the defaults stay visible.
- :func:`append_probe` adds a last cell that prints one JSON line built from the
  notebook's variables, which :func:`probe_result` reads back: tests assert on values,
  not on rendered HTML.
- :func:`execute` runs the notebook top to bottom with nbclient; any cell error raises
  ``nbclient.exceptions.CellExecutionError``.

Kernel: ipykernel installs a ``python3`` kernel spec into ``sys.prefix`` whose command
is ``python -m ipykernel_launcher``; jupyter_client replaces a bare ``python`` with
``sys.executable``, so the kernel runs in the test's own interpreter (the venv) with no
extra setup. If no ``python3`` spec is found, or it names another interpreter (e.g. a
user-level spec), :func:`kernel_name` installs one for ``sys.executable`` into a
temporary folder added to ``JUPYTER_PATH``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from tests.datasets import DATASETS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOK_NAMES = (
    "01-quickstart.ipynb",
    "02-retrieval-evaluation.ipynb",
    "03-chunking.ipynb",
)
PROBE_MARKER = "__docent_probe__"


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def parameters_index(nb: nbformat.NotebookNode) -> int:
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.metadata.get("tags", []):
            return int(index)
    raise AssertionError("no cell tagged 'parameters'")


def load(name: str) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.read(  # type: ignore[no-untyped-call]
        NOTEBOOKS_DIR / name, as_version=4
    )
    return nb


def new_code_cell(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
        source, metadata={"tags": tags} if tags else {}
    )
    return cell


def inject_parameters(nb: nbformat.NotebookNode, params: Mapping[str, Any]) -> None:
    """Add a papermill-style ``injected-parameters`` cell after the ``parameters`` cell."""
    source = "\n".join(f"{key} = {value!r}" for key, value in params.items())
    cell = new_code_cell(source, ["injected-parameters"])
    nb.cells.insert(parameters_index(nb) + 1, cell)


def append_probe(nb: nbformat.NotebookNode, expression: str) -> None:
    """Add a last cell printing ``expression`` (evaluated in the notebook) as one JSON line."""
    source = f"import json as _json\nprint({PROBE_MARKER!r}, _json.dumps({expression}))"
    nb.cells.append(new_code_cell(source))


def probe_result(nb: nbformat.NotebookNode) -> Any:
    text = "".join(
        output.get("text", "")
        for output in nb.cells[-1].get("outputs", [])
        if output.get("name") == "stdout"
    )
    for line in text.splitlines():
        if line.startswith(PROBE_MARKER):
            return json.loads(line.removeprefix(PROBE_MARKER))
    raise AssertionError(f"the probe cell printed no result: {text!r}")


def kernel_name() -> str:
    """``python3`` when that spec runs this interpreter, else a spec made for it."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    major, minor = sys.version_info[:2]
    this_python = {"python", f"python{major}", f"python{major}.{minor}", sys.executable}
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        if spec.argv and spec.argv[0] in this_python:
            return "python3"
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    prefix = tempfile.mkdtemp(prefix="docent-kernel-")
    install(kernel_name="docent-test", prefix=prefix)  # argv[0] = sys.executable
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(Path(prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
    )
    return "docent-test"


def execute(nb: nbformat.NotebookNode, *, timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell in order, in ``notebooks/`` (as ``jupyter lab notebooks/`` does)."""
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name(),
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()
    return nb


def outputs_of_tagged(nb: nbformat.NotebookNode, tag: str) -> list[dict[str, Any]]:
    """All outputs of the cells tagged ``tag``."""
    return [
        output
        for cell in code_cells(nb)
        if tag in cell.metadata.get("tags", [])
        for output in cell.get("outputs", [])
    ]


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in code_cells(nb)
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
    )
