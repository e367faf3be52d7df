"""Keyed, jittable augmentation pipelines that define the invariance of a compressor.

"Lossy Compression for Lossless Prediction" (Dubois et al., 2021) replaces the maximal invariant
M(X) by the unaugmented input, which is only valid if the *same* augmentations are used at train
and test time (Sec. 4, App. C.3-C.4). This module builds those augmentations from a spec as pure
JAX functions, so that they run inside the jitted train step, on any device::

    fn = build_augment("mnist_large")         # fn(key, image_hwc) -> image_hwc
    views = augment_batch(key, images, fn)    # (B, H, W, C), one key per example

- Every random draw takes an explicit ``jax.random`` key; identical keys give identical outputs.
  ``augment_batch`` gives example ``i`` the ``i``-th key of ``jax.random.split(key, B)``, so an
  example's view depends only on its key and its image, not on the rest of the batch.
- Consecutive geometric ops are multiplied and applied in *one* warp (``fuse_geometric=True``),
  which blurs less than warping sequentially. The authors apply torchvision transforms one after
  the other with nearest interpolation on PIL images; ``fuse_geometric=False, order=0`` does the
  same (up to torchvision's own sampling details).

The parts live in one module each and are re-exported here: ``geometry`` (affine matrices and
warps, flips, resized crops), ``colour`` (ColorJitter, grey scale), ``augment_spec`` (the named
ops, ``PRESETS``, ``parse_spec``) and ``label_pool`` (the supervised equivalence of Table 6:
``make_label_pool`` + ``sample_same_label`` return, for each example, a random pool image with
the same label).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from lossyless_jax.data.augment_spec import OPS, PRESETS, parse_spec
from lossyless_jax.data.colour import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    hsv_to_rgb,
    random_color_jitter,
    random_grayscale,
    rgb_to_grayscale,
    rgb_to_hsv,
)
from lossyless_jax.data.geometry import (
    affine_matrix,
    affine_warp,
    check_image,
    flip_left_right,
    flip_up_down,
    random_affine_matrix,
    random_resized_crop,
    resized_crop,
    rotate,
    translate,
)
from lossyless_jax.data.label_pool import (
    LabelPool,
    label_representatives,
    make_label_pool,
    same_label_images,
    sample_same_label,
)

__all__ = [
    "AugmentFn",
    "PRESETS",
    "affine_matrix",
    "affine_warp",
    "rotate",
    "translate",
    "flip_left_right",
    "flip_up_down",
    "resized_crop",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "random_affine_matrix",
    "random_resized_crop",
    "random_color_jitter",
    "random_grayscale",
    "parse_spec",
    "build_augment",
    "augment_batch",
    "two_views",
    "LabelPool",
    "make_label_pool",
    "sample_same_label",
    "same_label_images",
    "label_representatives",
]

AugmentFn = Callable[[jax.Array, jax.Array], jax.Array]


def build_augment(
    spec: Any,
    *,
    p: float = 1.0,
    order: int = 1,
    fill: float = 0.0,
    fuse_geometric: bool = True,
) -> AugmentFn:
  """Build ``fn(key, image) -> image`` for a single ``(H, W, C)`` image from ``spec``.

  Args:
    spec: preset name, string or sequence (see ``augment_spec``).
    p: probability of applying the whole pipeline (Fig. 12's ``p_augment``); else identity.
    order: interpolation for geometric warps, 1 bilinear or 0 nearest.
    fill: value of pixels uncovered by geometric transforms.
    fuse_geometric: multiply consecutive geometric ops into a single warp.
  """
  entries = parse_spec(spec)
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"p must be in [0, 1], got {p}")

  def fn(key: jax.Array, image: jax.Array) -> jax.Array:
    check_image(image)
    keys = jax.random.split(key, len(entries) + 1)
    k_apply, keys = keys[0], keys[1:]
    out = image
    pending: list = []  # [(name, forward matrix)] of the current run of geometric ops

    def flush(img, group):
      if not group:
        return img
      if all(name in ("hflip", "vflip") for name, _ in group):
        # Pure flips: exact index reversal, no resampling; one gather with a per-example index
        # (a select between flipped and unflipped copies fuses badly after a gather on XLA:CPU).
        for name, mat in group:
          axis = 1 if name == "hflip" else 0
          n = img.shape[axis]
          ar = jnp.arange(n)
          idx = jnp.where(mat[0, 0] * mat[1, 1] < 0, n - 1 - ar, ar)
          img = jnp.take(img, idx, axis=axis)
        return img
      total = group[0][1]
      for _, mat in group[1:]:
        total = mat @ total
      return affine_warp(img, total, order=order, fill=fill)

    for k, (name, kwargs) in zip(keys, entries):
      kind, op = OPS[name]
      if kind == "geometric":
        pending.append((name, op(k, out.shape, **kwargs)))
        if not fuse_geometric:
          out = flush(out, pending)
          pending = []
      else:
        out = flush(out, pending)
        pending = []
        # Materialise each stage: otherwise XLA fuses the resampling gathers into every consumer
        # of the colour ops and recomputes them (~1.5-3x slower on CPU).
        out = jax.lax.optimization_barrier(op(k, jax.lax.optimization_barrier(out), **kwargs))
    out = flush(out, pending)
    if p >= 1.0:
      return out
    if out.shape != image.shape:
      raise ValueError("p < 1 needs a pipeline that keeps the image shape")
    return jnp.where(jax.random.bernoulli(k_apply, p), out, image)

  return fn


def augment_batch(key: jax.Array, images: jax.Array, fn: AugmentFn) -> jax.Array:
  """Apply ``fn`` to each example of a ``(B, H, W, C)`` batch with independent keys."""
  if images.ndim != 4:
    raise ValueError(f"images must be (B, H, W, C), got shape {tuple(images.shape)}")
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(fn)(keys, images)


def two_views(key: jax.Array, images: jax.Array, fn: AugmentFn) -> tuple[jax.Array, jax.Array]:
  """Two independent augmentations of every example (BINCE / NT-Xent positives)."""
  k1, k2 = jax.random.split(key)
  return augment_batch(k1, images, fn), augment_batch(k2, images, fn)
