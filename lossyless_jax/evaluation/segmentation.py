"""Segmentation scores from a confusion matrix accumulated over a split (Gray-Wyner paper §4.3).

``confusion[i, j]`` counts the pixels of true class ``i`` predicted as ``j`` (ignored pixels are
not counted; `losses.cityscapes.confusion_counts`). Both scores are macro averages over the classes
that occur (true or predicted), as the authors' metrics: mIoU is the Jaccard index
``C_ii / (Σ_j C_ij + Σ_j C_ji − C_ii)`` averaged over classes; the accuracy is the per-class recall
``C_ii / Σ_j C_ij`` averaged over classes (not pixel accuracy).
"""
from __future__ import annotations

import numpy as np

__all__ = ["iou_per_class", "mean_iou", "macro_accuracy", "pixel_accuracy", "scores"]


def _check(confusion) -> np.ndarray:
  c = np.asarray(confusion, np.float64)
  if c.ndim != 2 or c.shape[0] != c.shape[1]:
    raise ValueError(f"a confusion matrix is square, got shape {c.shape}")
  return c


def iou_per_class(confusion) -> np.ndarray:
  """Per class IoU; NaN for a class that is neither present nor predicted."""
  c = _check(confusion)
  tp = np.diag(c)
  union = c.sum(0) + c.sum(1) - tp
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion) -> float:
  """Macro mean IoU over the classes with a non-empty union (NaN if there is none)."""
  iou = iou_per_class(confusion)
  return float(np.nanmean(iou)) if np.any(np.isfinite(iou)) else float("nan")


def macro_accuracy(confusion) -> float:
  """Mean per-class recall over the classes present in the labels."""
  c = _check(confusion)
  support = c.sum(1)
  present = support > 0
  if not present.any():
    return float("nan")
  return float(np.mean(np.diag(c)[present] / support[present]))


def scores(confusion) -> dict:
  """``{"miou", "acc_macro"}`` of a split's confusion matrix (the report fields)."""
  return {"miou": mean_iou(confusion), "acc_macro": macro_accuracy(confusion)}


def pixel_accuracy(confusion) -> float:
  c = _check(confusion)
  total = c.sum()
  return float(np.trace(c) / total) if total > 0 else float("nan")
