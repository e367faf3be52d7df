"""Precomputed features from a user's ``.npz`` (e.g. CLIP embeddings for the staggered recipe,
paper §2.6 and §5.3): arrays ``<split>_features`` (N, d) and optionally ``<split>_labels`` (N,),
at ``config.data.options.path``."""
from __future__ import annotations

import os

import numpy as np


def load(split: str, data_config) -> dict:
  path = data_config.options.get("path", "")
  if not path:
    raise ValueError("config.data.options.path: the .npz of precomputed features is not set")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config.data.options.path: {path} does not exist")
  with np.load(path) as f:
    if f"{split}_features" not in f.files:
      raise ValueError(f"{path}: no array {split + '_features'!r}; has {', '.join(sorted(f.files))}")
    out = {"x": np.asarray(f[f"{split}_features"], np.float32)}
    if f"{split}_labels" in f.files:
      out["label"] = np.asarray(f[f"{split}_labels"]).astype(np.int32)
  return out
