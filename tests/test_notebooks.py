"""Every notebook runs top to bottom (code cells executed in order in one namespace), so
they never rot. They are stored without outputs."""

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c["outputs"] and c["execution_count"] is None for c in cells), "store without outputs"
    monkeypatch.chdir(path.parent)
    namespace = {"__name__": "__main__"}
    for i, cell in enumerate(cells):
        code = "".join(cell["source"])
        exec(compile(code, f"{path.name}[cell {i}]", "exec"), namespace)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2 and os.path.exists(NOTEBOOKS[0])
