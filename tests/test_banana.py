"""Banana rotation experiment: configs, the quantization-cell plot and its ring score
(`evaluation.cells`), the invariant distortion, and tiny end-to-end runs."""
import importlib.util
import math
import os

import numpy as np
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import data as data_lib
from lossyless_jax import methods, train
from lossyless_jax.data import banana
from lossyless_jax.evaluation import cells

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESH, LIM = 200, 5.0


def _config(name, arg=""):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod, mod.get_config(arg)


def _grid():
  return np.asarray(banana.mesh_grid(MESH, LIM))


@pytest.mark.parametrize("name", ["banana_vic", "banana_vc", "banana_bince"])
def test_configs_are_the_papers_banana_and_documented(name):
  mod, c = _config(name)
  assert mod.__doc__.startswith(f"COMMAND: python launch/main.py --config=configs/{name}.py")
  assert "λ = 1/β" in mod.__doc__
  c = config_lib.validate(c)
  method = methods.get(c.method)
  method.validate(c)
  kind = name.split("_")[1]
  assert method.name == kind
  # the authors' code: z_dim 1 for VIC's sweep, 2 for VC; only VIC/BINCE encode a random orbit
  # element, VC the raw point; squared error averaged over the 2 coordinates, factor_beta 1
  assert (c.data.name, c.model.z_dim, c.model.encoder, c.model.rate) == ("banana", 1 if kind == "vic" else 2,
                                                                         "mlp", "factorized")
  assert c.model.p_augment == (0.0 if kind == "vc" else 1.0)
  assert c.loss.distortion_factor == (0.003 if kind == "bince" else 1.0) and c.loss.reduce == "mean"
  assert c.model.banana_invariance == "rotation" and c.model.activation == "softplus"
  assert c.coefs.rate.value == 0.07 and c.coefs.rate.warmup_steps == 0  # Fig. 5 right, constant
  with pytest.raises(ValueError, match="unknown arg"):
    mod.get_config("huge")


def test_banana_source_is_registered_and_keyed():
  _, c = _config("banana_vic", "tiny")
  assert "banana" in data_lib.SAMPLED_SOURCES
  a, b = next(data_lib.build(c.data, "train")), next(data_lib.build(c.data, "train"))
  assert a["x"].shape == (c.data.batch_size, 2)
  np.testing.assert_array_equal(a["x"], b["x"])
  test = data_lib.load_arrays(c.data, "test")["x"]
  assert test.shape == (c.data.options.eval_size, 2) and not np.allclose(test[:5], a["x"][:5])


def test_ring_score_oracle():
  grid = _grid()
  rings = cells.cell_ids(np.round(np.linalg.norm(grid, axis=1, keepdims=True)))
  stripes = cells.cell_ids(np.round(grid[:, :1]))
  squares = cells.cell_ids(np.round(grid * 2))
  assert cells.ring_score(grid, rings, lim=LIM) > 0.97
  assert cells.ring_score(grid, stripes, lim=LIM) < 0.5
  assert cells.ring_score(grid, squares, lim=LIM) < 0.5
  assert cells.ring_score(grid, np.zeros(len(grid), int), lim=LIM) == 1.0  # one cell: trivially invariant
  # Rings whose boundaries sit on the radius-bin edges: exactly 1.
  assert cells.ring_score(grid, cells.cell_ids(np.floor(np.linalg.norm(grid, axis=1, keepdims=True))),
                          lim=LIM, num_bins=5) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="ids"):
    cells.ring_score(grid, rings[:-1], lim=LIM)


def test_invariant_mse_is_the_cell_mean_predictor():
  tr_codes = np.array([[0, 0], [0, 0], [1, 0]])
  tr_target = np.array([[1.0], [3.0], [5.0]])
  te_codes = np.array([[0, 0], [1, 0], [2, 0]])
  te_target = np.array([[2.0], [6.0], [0.0]])
  # cells: (0,0) -> mean 2, (1,0) -> 5, unseen (2,0) -> nearest train cell (1,0) -> 5
  mse, coverage = cells.invariant_mse(tr_codes, tr_target, te_codes, te_target)
  assert mse == pytest.approx((0 + 1 + 25) / 3) and coverage == pytest.approx(2 / 3)
  # the MSE is the mean over target coordinates
  mse2, _ = cells.invariant_mse(tr_codes, np.tile(tr_target, 2), te_codes, np.tile(te_target, 2))
  assert mse2 == pytest.approx(mse)
  mse, _ = cells.invariant_mse(tr_codes, tr_target, te_codes, te_target, fallback=lambda z: np.full((len(z), 1), 0.5))
  assert mse == pytest.approx((0 + 1 + 0.25) / 3)


def test_plot_cells_writes_a_png(tmp_path):
  grid = _grid()
  ids = cells.cell_ids(np.round(np.linalg.norm(grid, axis=1, keepdims=True)))
  path = cells.plot_cells(str(tmp_path / "cells.png"), ids, mesh=MESH, lim=LIM, samples=grid[::97],
                          codebook=np.array([[0.0, 0.0], [-1.0, -1.0]]), code_bits=np.array([1.0, 2.0]), title="t")
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _run_tiny(name, tmp_path):
  _, c = _config(name, "tiny")
  report = train.train_and_eval(c, str(tmp_path / name))
  for key in ("bits_per_image_estimated", "bits_per_image_coded", "distortion", "distortion_bits", "ring_score"):
    assert math.isfinite(report[key]), key
  assert report["distortion_is_mse"] and 0.0 <= report["ring_score"] <= 1.0 and report["num_cells"] >= 1
  assert report["distortion_bits"] == pytest.approx(0.5 * math.log2(2 * math.pi * math.e * report["distortion"]))
  assert report["coded_within_2pct_plus_header"]
  assert os.path.exists(tmp_path / name / "cells.png") and report["cells_plot"].endswith("cells.png")
  return report


def test_tiny_vic_runs_and_writes_the_cell_plot(tmp_path):
  report = _run_tiny("banana_vic", tmp_path)
  assert report["decoder_invariant_mse"] > 0 and 0 < report["cell_coverage"] <= 1


@pytest.mark.slow(reason="two more tiny trainings with their compilations (~1 min on 2 shared cores)")
@pytest.mark.parametrize("name", ["banana_vc", "banana_bince"])
def test_tiny_vc_and_bince_run(name, tmp_path):
  report = _run_tiny(name, tmp_path)
  assert ("decoder_invariant_mse" in report) == (name == "banana_vc")


@pytest.mark.slow(reason="trains the full banana VIC config (~2.5 min on 2 cores)")
def test_full_vic_learns_rings(tmp_path):
  _, c = _config("banana_vic")
  report = train.train_and_eval(c, str(tmp_path / "vic"))
  assert report["ring_score"] > 0.9 and report["num_cells"] > 3
  assert report["distortion"] < 0.1  # λ = 0.07: ~3 bits, invariant MSE ~0.035
  assert c.model.banana_invariance == "rotation"
