"""Every notebook in colabs/ runs top to bottom on CPU (nbclient, a fresh kernel, cwd colabs/)."""
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colabs", "*.ipynb")))
# the quickstart, then one notebook per paper
EXPECTED = ("quickstart", "invariant", "gray_wyner", "nerd", "infomax")


def test_there_is_a_notebook_per_paper():
  names = {os.path.splitext(os.path.basename(p))[0] for p in NOTEBOOKS}
  assert set(EXPECTED) <= names, sorted(set(EXPECTED) - names)


def test_every_notebook_starts_with_the_setup_cell():
  """The first code cell installs the repository (Colab: a clone of REPO_URL, then one restart;
  elsewhere: the repository the notebook sits in, when lossyless_jax is not importable) and is the
  same cell in every notebook."""
  nbformat = pytest.importorskip("nbformat")
  first = {os.path.basename(p): next(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
           for p in NOTEBOOKS}
  setup = first["quickstart.ipynb"]
  for needed in ('"google.colab" in sys.modules', "REPO_URL", "LOSSYLESS_JAX_REPO", "pip", "os.kill(", "WORKDIR"):
    assert needed in setup, needed
  assert all(source == setup for source in first.values()), sorted(n for n, s in first.items() if s != setup)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  nb = nbformat.read(path, as_version=4)
  assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
  nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": os.path.dirname(path)}}).execute()
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
  assert not errors
