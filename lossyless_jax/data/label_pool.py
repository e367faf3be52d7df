"""Supervised equivalence: ``x ~ x'`` iff ``x`` and ``x'`` have the same label.

The "supervised" augmentation of "Lossy Compression for Lossless Prediction" (Dubois et al.,
2021; Table 6): each example is replaced by a random image of its class, and supervised VIC
reconstructs a fixed representative image of the label. ``make_label_pool`` (host-side) sorts a
labelled pool by class; ``sample_same_label`` and ``label_representatives`` then draw from it
inside jit.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class LabelPool(NamedTuple):
  """Pool sorted by label so that class ``c`` occupies ``[offsets[c], offsets[c] + counts[c])``."""

  images: jax.Array  # (N, ...) sorted by label
  labels: jax.Array  # (N,) int32, sorted
  offsets: jax.Array  # (K,) int32
  counts: jax.Array  # (K,) int32


def make_label_pool(images: Any, labels: Any, num_classes: int | None = None) -> LabelPool:
  """Host-side: sort the pool by label (stable) and index each class. Every class in
  ``range(num_classes)`` must have at least one example."""
  images = np.asarray(images)
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
    raise ValueError(
        f"labels must be 1-D with one entry per image; got labels {labels.shape}, images {images.shape}"
    )
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
  if labels.min() < 0:
    raise ValueError(f"labels must be >= 0, got min {labels.min()}")
  k = int(labels.max()) + 1 if num_classes is None else int(num_classes)
  if labels.max() >= k:
    raise ValueError(f"label {labels.max()} >= num_classes={k}")
  order = np.argsort(labels, kind="stable")
  counts = np.bincount(labels, minlength=k)
  empty = np.nonzero(counts == 0)[0]
  if empty.size:
    raise ValueError(f"make_label_pool: classes {empty.tolist()} have no example in the pool")
  offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
  return LabelPool(
      images=jnp.asarray(images[order]),
      labels=jnp.asarray(labels[order].astype(np.int32)),
      offsets=jnp.asarray(offsets.astype(np.int32)),
      counts=jnp.asarray(counts.astype(np.int32)),
  )


def sample_same_label(key: jax.Array, labels: jax.Array, pool: LabelPool) -> jax.Array:
  """For each label, a uniformly random pool image with that label (jittable, O(B)).

  This is the "supervised" augmentation of Table 6: the equivalence is "same label".
  Labels outside ``[0, K)`` are not checked inside jit; ``make_label_pool`` guarantees non-empty
  classes.
  """
  labels = jnp.asarray(labels, jnp.int32)
  u = jax.random.uniform(key, labels.shape)
  counts = pool.counts[labels]
  idx = pool.offsets[labels] + jnp.minimum(jnp.floor(u * counts).astype(jnp.int32), counts - 1)
  return pool.images[idx]


def same_label_images(key: jax.Array, labels: jax.Array, pool_images: jax.Array,
                      pool_labels: jax.Array) -> jax.Array:
  """Like ``sample_same_label`` but straight from unsorted pool arrays (jittable, O(B·N) memory):
  each example draws uniformly among the pool entries whose label equals its own. Use
  ``make_label_pool`` + ``sample_same_label`` for large pools. A label absent from the pool has no
  valid draw (not checked inside jit)."""
  labels = jnp.asarray(labels)
  mask = labels[:, None] == jnp.asarray(pool_labels)[None, :]
  logits = jnp.where(mask, 0.0, -jnp.inf)
  idx = jax.random.categorical(key, logits, axis=-1)
  return jnp.asarray(pool_images)[idx]


def label_representatives(key: jax.Array, pool: LabelPool) -> jax.Array:
  """One fixed random image per class, ``(K, ...)``: the supervised-VIC reconstruction target
  (drawn once with a fixed key, as in the authors' released code).
  Index it with the labels: ``label_representatives(key, pool)[labels]``."""
  k = pool.counts.shape[0]
  return sample_same_label(key, jnp.arange(k), pool)
