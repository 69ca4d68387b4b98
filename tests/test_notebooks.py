"""Every notebook runs top to bottom (code cells executed in order in one namespace), so
they never rot. They are stored without outputs."""

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
# These train a model each (a biLM on PTB, MiniLM on SST-2): ~30 s and ~75 s on 2 CPU cores.
SLOW = {"03_bilm_elmo.ipynb", "04_finetune_glue.ipynb"}


@pytest.fixture
def one_thread():
    """As in test_lm: on a shared machine small models run fastest on one thread (04 took
    209 s with two threads next to a busy core, 74 s with one). A notebook may set its own
    count (03 does); the tests after it get theirs back."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, one_thread):
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
