"""Precomputed features from a user's ``.npz`` (e.g. CLIP embeddings for the staggered recipe,
paper §2.6 and §5.3): arrays ``<split>_features`` (N, d) and ``<split>_labels`` (N,) of
non-negative integers, at ``config.data.options.path``.

The labels are required: the methods reading these files probe every coded split (§5.3), so a
file without them is refused when a split is loaded (before training) rather than probed against
made-up labels. Malformed arrays raise ``errors.DataError`` naming the file, the array and the problem.
"""
from __future__ import annotations

import os

import numpy as np

from lossyless_jax import errors


def _open(path: str):
  try:
    f = np.load(path)
  except (OSError, ValueError) as e:
    raise errors.DataError(f"{path}: not a readable .npz ({e})") from None
  if not isinstance(f, np.lib.npyio.NpzFile):
    raise errors.DataError(f"{path}: a single array, not an .npz of <split>_features and <split>_labels arrays")
  return f


def _array(f, path: str, name: str) -> np.ndarray:
  if name not in f.files:
    raise errors.DataError(f"{path}: no array {name!r}; has {', '.join(sorted(f.files)) or 'none'}")
  try:
    return np.asarray(f[name])
  except ValueError as e:  # e.g. an object array (pickles are not loaded)
    raise errors.DataError(f"{path}: {name!r} cannot be read: {e}") from None


def _features(path: str, x: np.ndarray, name: str) -> np.ndarray:
  if x.ndim != 2 or not min(x.shape):
    raise errors.DataError(f"{path}: {name!r} has shape {x.shape}; expected 2-D (examples, features), non-empty")
  if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
    raise errors.DataError(f"{path}: {name!r} has dtype {x.dtype}; expected real numbers")
  x = x.astype(np.float32)
  bad = int(np.sum(~np.isfinite(x).all(axis=1)))
  if bad:
    raise errors.DataError(f"{path}: {name!r} has {bad} of {len(x)} rows with NaN or Inf (after float32 conversion)")
  return x


def _labels(path: str, y: np.ndarray, name: str, rows: int, features: str) -> np.ndarray:
  if y.ndim != 1:
    raise errors.DataError(f"{path}: {name!r} has shape {y.shape}; expected 1-D (examples,)")
  if len(y) != rows:
    raise errors.DataError(f"{path}: {features!r} has {rows} rows but {name!r} {len(y)}; expected one label per row")
  real = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
  if not real or (np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y) & (y == np.round(y)))):
    raise errors.DataError(f"{path}: {name!r} (dtype {y.dtype}) holds values that are not integers; "
                           "expected non-negative integer class labels")
  if len(y) and y.min() < 0:
    raise errors.DataError(f"{path}: {name!r} has {int(np.sum(y < 0))} negative labels (min {y.min():g}); "
                           "expected non-negative integer class labels")
  return y.astype(np.int32)


def feature_dim(path: str, split: str = "train") -> int:
  """d of ``<split>_features`` in ``path``, the array's shape and values checked."""
  with _open(path) as f:
    name = f"{split}_features"
    return int(_features(path, _array(f, path, name), name).shape[1])


def load(split: str, data_config) -> dict:
  path = data_config.options.get("path", "")
  if not path:
    raise errors.DataError("config.data.options.path: the .npz of precomputed features is not set")
  if not os.path.isfile(path):
    raise errors.DataError(f"config.data.options.path: {path} does not exist")
  with _open(path) as f:
    features, labels = f"{split}_features", f"{split}_labels"
    x = _features(path, _array(f, path, features), features)
    y = _labels(path, _array(f, path, labels), labels, len(x), features)
  return {"x": x, "label": y}
