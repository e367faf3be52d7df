"""Banana (paper Sec. 5.1, Fig. 5, App. E.1): the invariant distortion and the quantization cells."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax import data as data_lib
from lossyless_jax.data import banana
from lossyless_jax.entropy import coding
from lossyless_jax.evaluation import cells, rd_curves
from lossyless_jax.methods.lossyless import defaults
from lossyless_jax.methods.lossyless import evaluate as E
from lossyless_jax.methods.lossyless import model as M


def run(params, model_state, config, workdir, state, inputs, reps, bits) -> dict:
  """From the views ``inputs`` and their decoded codes ``reps`` (``bits``: estimated bits, for
  the plot's title):

  ``distortion``: test MSE (mean over the 2 coordinates) of a predictor of the maximal invariant
  ``representative(x)`` from ẑ ("the MSE when predicting the maximal invariant"), fitted on the
  train views (``cells.invariant_mse``: the train mean per cell; cells without train points use
  the decoder's invariant ``representative(decoder(ẑ))``, or the nearest train cell for BINCE).
  The same measure for every method, so AURDs compare; ``distortion_bits = 0.5·log2(2πe·MSE)``.
  ``decoder_invariant_mse``: the decoder's invariant alone (VIC/VC). ``ring_score``/``num_cells``:
  ``cells.ring_score`` of the cells of ``banana.mesh_grid(cells_mesh, cells_lim)``, plotted in
  ``cells.png``.
  """
  ev = defaults.eval_fields(config)
  inv, kind = M._get(config.model, "banana_invariance"), defaults.kind_of(config)
  rep = lambda x: np.asarray(banana.representative(jnp.asarray(x), inv))
  decode = (lambda z: E.reconstruct(params, model_state, config, z, (2,))) if kind in ("vic", "vc") else None
  invariant = (lambda z: rep(decode(z))) if decode else None
  test_target = rep(inputs["test"])
  mse, coverage = cells.invariant_mse(reps["train"], rep(inputs["train"]), reps["test"], test_target, invariant)
  out = {"distortion": mse, "distortion_is_mse": True, "distortion_bits": float(rd_curves.mse_to_bits(mse)),
         "cell_coverage": coverage}
  if invariant:
    out["decoder_invariant_mse"] = float(np.mean(np.square(invariant(reps["test"]) - test_target)))
  mesh, lim = int(ev["cells_mesh"]), float(ev["cells_lim"])
  grid = np.asarray(banana.mesh_grid(mesh, lim))
  z, grid_bits = E.featurize(params, model_state, config, grid)
  grid_codes = coding.quantize(state, z)
  ids = cells.cell_ids(grid_codes)
  out["ring_score"] = cells.ring_score(grid, ids, lim=lim, num_bins=int(ev["ring_bins"]))
  out["num_cells"] = int(ids.max()) + 1
  if jax.process_index() == 0:
    uniq, first = np.unique(grid_codes, axis=0, return_index=True)
    title = (f"{config.method} λ={float(config.coefs.rate.value):g}: {bits:.2f} bits, "
             f"invariant MSE {mse:.3g}, ring score {out['ring_score']:.2f}")
    out["cells_plot"] = cells.plot_cells(
        os.path.join(workdir, "cells.png"), ids, mesh=mesh, lim=lim,
        samples=data_lib.load_arrays(config.data, "test")["x"][:2000],
        codebook=decode(uniq) if decode else None, code_bits=grid_bits[first], title=title)
  return out  # printed by `report.summary`
