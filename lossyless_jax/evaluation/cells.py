"""Quantization cells of a 2-D compressor (Banana, paper Fig. 5 right / App. E.1) and the invariant
distortion measured from the cells.

- ``cell_ids``: the cell of each point is its quantized code ẑ (points with equal ẑ share a cell).
- ``ring_score``: how much of the cell partition is explained by the radius alone,
  ``I[cell; radius bin] / H[cell] = 1 − H[cell | radius bin] / H[cell]`` on the points with
  ``‖x‖ ≤ lim`` (a regular mesh: every angle equally weighted at each radius). Concentric rings
  (cells that are functions of ‖x‖, what VIC learns under rotation invariance) score ≈ 1 (only the
  radius bins straddling a ring boundary mix two cells); a partition that also cuts angles (VC)
  scores well below (a square grid of cells: ≈ 0.3–0.45). A single cell is trivially invariant: 1.
- ``invariant_mse``: the test MSE of a predictor of the maximal invariant (``target``) from ẑ fitted
  on train codes: the train mean of the target in the test point's cell (the plug-in Bayes
  predictor under MSE, i.e. ``R[M(X) | Z]`` of Prop. 1 with the MSE loss), and ``fallback(ẑ)`` for
  cells no train point fell in.
- ``plot_cells``: the picture (cells coloured by code, pink boundaries, data samples, codebook
  points with area ∝ q(ẑ)).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from lossyless_jax import plotting

__all__ = ["cell_ids", "ring_score", "invariant_mse", "plot_cells"]


def cell_ids(codes) -> np.ndarray:
  """Integer cell id of each row of ``codes`` (N, d): rows with equal codes share an id."""
  codes = np.asarray(codes)
  if codes.ndim != 2:
    raise ValueError(f"codes must be (N, d), got shape {codes.shape}")
  return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)


def _entropy(counts: np.ndarray) -> float:
  p = counts[counts > 0] / counts.sum()
  return float(-(p * np.log2(p)).sum())


def ring_score(points, ids, *, lim: float, num_bins: int = 100) -> float:
  """``1 − H[cell | radius bin] / H[cell]`` over the points with ``‖x‖ ≤ lim`` (see module doc)."""
  points, ids = np.asarray(points, np.float64), np.asarray(ids).reshape(-1)
  if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(ids):
    raise ValueError(f"ring_score needs points (N, 2) and ids (N,), got {points.shape} and {ids.shape}")
  r = np.linalg.norm(points, axis=1)
  keep = r <= lim
  if not keep.any():
    raise ValueError(f"ring_score: no point within radius lim={lim}")
  r, ids = r[keep], np.unique(ids[keep], return_inverse=True)[1].reshape(-1)
  h_cell = _entropy(np.bincount(ids))
  if h_cell == 0.0:
    return 1.0
  bins = np.minimum((r / lim * num_bins).astype(np.int64), num_bins - 1)
  joint = np.bincount(bins * (ids.max() + 1) + ids).astype(np.float64)
  h_joint, h_bins = _entropy(joint), _entropy(np.bincount(bins))
  return float(1.0 - (h_joint - h_bins) / h_cell)


def invariant_mse(train_codes, train_target, test_codes, test_target,
                  fallback: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float]:
  """(test MSE, the mean over target dims, fraction of test points whose cell holds train points).

  Cells without train points are predicted by ``fallback(codes) -> (n, dims)`` (e.g. the
  decoder's invariant), else by the nearest train code.
  """
  tr_c, te_c = np.asarray(train_codes), np.asarray(test_codes)
  tr_t, te_t = np.asarray(train_target, np.float64), np.asarray(test_target, np.float64)
  if len(tr_c) != len(tr_t) or len(te_c) != len(te_t) or tr_t.shape[1:] != te_t.shape[1:]:
    raise ValueError(f"invariant_mse: codes/targets mismatch: {tr_c.shape}/{tr_t.shape}, {te_c.shape}/{te_t.shape}")
  uniq, inv = np.unique(np.concatenate([tr_c, te_c]), axis=0, return_inverse=True)
  inv = inv.reshape(-1)
  tr_i, te_i = inv[:len(tr_c)], inv[len(tr_c):]
  counts = np.bincount(tr_i, minlength=len(uniq)).astype(np.float64)
  sums = np.stack([np.bincount(tr_i, weights=tr_t[:, k], minlength=len(uniq)) for k in range(tr_t.shape[1])], -1)
  means = sums / np.maximum(counts, 1.0)[:, None]
  unseen = counts == 0
  if unseen.any():
    if fallback is not None:
      means[unseen] = np.asarray(fallback(uniq[unseen]), np.float64)
    else:
      from scipy.spatial import cKDTree
      seen = np.flatnonzero(~unseen)
      means[unseen] = means[seen[cKDTree(uniq[seen]).query(uniq[unseen])[1]]]
  err = np.mean(np.square(means[te_i] - te_t), axis=1)
  return float(err.mean()), float(np.mean(counts[te_i] > 0))


def plot_cells(path: str, ids, *, mesh: int, lim: float, samples=None, codebook=None, code_bits=None,
               title: str = "") -> str:
  """Saves the cell picture of a ``mesh × mesh`` grid over ``[-lim, lim]²`` (``ids`` in
  ``data.banana.mesh_grid`` order) with ``samples`` (n, 2) as black dots and ``codebook`` (k, 2)
  as pink dots of area ∝ ``2^-code_bits``."""
  ids = np.asarray(ids).reshape(mesh, mesh)
  perm = np.random.default_rng(0).permutation(int(ids.max()) + 1)  # neighbours get unrelated colours
  edge = np.zeros(ids.shape, bool)
  edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
  edge[1:, :] |= ids[1:, :] != ids[:-1, :]
  fig, ax = plotting.subplots(figsize=(6, 6))
  extent = (-lim, lim, -lim, lim)
  ax.imshow(perm[ids] % 20, cmap="tab20", vmin=0, vmax=19, origin="lower", extent=extent, alpha=0.45,
            interpolation="nearest")
  ax.imshow(np.ma.masked_where(~edge, edge), cmap="spring", origin="lower", extent=extent, interpolation="nearest")
  if samples is not None:
    s = np.asarray(samples)
    ax.scatter(s[:, 0], s[:, 1], s=1, c="k", alpha=0.3, linewidths=0, label="test samples")
  if codebook is not None:
    cb = np.asarray(codebook)
    p = np.exp2(-np.asarray(code_bits, np.float64)) if code_bits is not None else np.ones(len(cb))
    size = 2 + 200 * p / p.max() * min(1.0, 30 / len(cb)) ** 0.5  # smaller dots when cells are many
    ax.scatter(cb[:, 0], cb[:, 1], s=size, c="deeppink", edgecolors="white", linewidths=0.5,
               label="codebook: each cell's reconstruction (area ∝ its probability)")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect("equal")
  ax.set_title(title, fontsize=9)
  if samples is not None or codebook is not None:
    legend = ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    for handle in legend.legend_handles:  # legend markers of one readable size, opaque
      handle.set_sizes([25.0])
      handle.set_alpha(1.0)
  return plotting.save(fig, path)
