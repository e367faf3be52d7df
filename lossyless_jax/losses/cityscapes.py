"""Task distortions of the Cityscapes experiment (Gray-Wyner paper §4.3, App. D.5).

Pure functions on arrays. Segmentation logits ``(B, H, W, 19)`` against trainIds ``(B, H, W)``
with ignore index 19; disparity predictions ``(B, H, W)`` against targets ``t = (p − 1)/32768``
(the disparity in pixels divided by 128) with the validity mask ``p > 0``.

* :func:`segmentation_loss` — ``d1 = 19·CE``, the cross-entropy averaged over the batch's
  non-ignored pixels (the weight 19 of §4.3).
* :func:`depth_loss` — ``d2 = 128·sqrt((1/B) Σ_b Σ m_b (t̂ − t)² / Σ m_b)``: the masked disparity RMSE in
  pixels (128 undoes the 1/128 of the target's scale).
* :func:`per_image` — the same terms per image (``d1`` per image, the per-image masked RMSE in
  pixels, and the 19×19 confusion counts) for evaluation, where sums over a split are taken.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

NUM_CLASSES = 19
IGNORE_INDEX = 19
CE_WEIGHT = 19.0  # §4.3: 19·CE
DISPARITY_SCALE = 128.0  # §4.3: 128·√(masked MSE), the RMSE in disparity pixels

__all__ = ["NUM_CLASSES", "IGNORE_INDEX", "pixel_cross_entropy", "segmentation_loss", "segmentation_per_image",
           "masked_squared_error", "depth_loss", "rmse_per_image", "confusion_counts", "per_image"]


def pixel_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(ce, valid)`` per pixel: the cross-entropy (0 at ignored pixels) and the 0/1 validity."""
  valid = (labels != IGNORE_INDEX) & (labels >= 0) & (labels < NUM_CLASSES)
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  ce = -jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
  v = valid.astype(jnp.float32)
  return ce * v, v


def segmentation_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """``19·CE`` averaged over the non-ignored pixels of the whole batch (0 if there are none)."""
  ce, v = pixel_cross_entropy(logits, labels)
  return CE_WEIGHT * jnp.sum(ce) / jnp.maximum(jnp.sum(v), 1.0)


def segmentation_per_image(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per image, ``19·CE`` over its non-ignored pixels (0 for an image without one)."""
  ce, v = pixel_cross_entropy(logits, labels)
  axes = tuple(range(1, ce.ndim))
  return CE_WEIGHT * jnp.sum(ce, axis=axes) / jnp.maximum(jnp.sum(v, axis=axes), 1.0)


def masked_squared_error(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
  """Per image, ``Σ m (t̂ − t)² / Σ m`` (0 for an image without a valid pixel)."""
  m = mask.astype(jnp.float32)
  axes = tuple(range(1, pred.ndim))
  num = jnp.sum(m * jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32)), axis=axes)
  return num / jnp.maximum(jnp.sum(m, axis=axes), 1.0)


def _sqrt(x: jax.Array) -> jax.Array:
  pos = x > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def depth_loss(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
  """``128·sqrt(mean_b masked MSE_b)`` (§4.3); the gradient at an exact fit is 0, not NaN."""
  return DISPARITY_SCALE * _sqrt(jnp.mean(masked_squared_error(pred, target, mask)))


def rmse_per_image(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
  """Per image, the masked disparity RMSE in pixels, ``128·sqrt(masked MSE)``."""
  return DISPARITY_SCALE * _sqrt(masked_squared_error(pred, target, mask))


def confusion_counts(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """``(B, 19, 19)`` counts, rows the true class and columns the argmax prediction; ignored
  pixels are not counted."""
  b = labels.shape[0]
  valid = (labels != IGNORE_INDEX) & (labels >= 0) & (labels < NUM_CLASSES)
  pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
  cell = jnp.where(valid, labels.astype(jnp.int32) * NUM_CLASSES + pred, NUM_CLASSES * NUM_CLASSES)
  seg = cell.reshape(b, -1) + (jnp.arange(b, dtype=jnp.int32) * (NUM_CLASSES * NUM_CLASSES + 1))[:, None]
  counts = jax.ops.segment_sum(jnp.ones(seg.size, jnp.float32), seg.reshape(-1),
                               num_segments=b * (NUM_CLASSES * NUM_CLASSES + 1))
  return counts.reshape(b, NUM_CLASSES * NUM_CLASSES + 1)[:, :-1].reshape(b, NUM_CLASSES, NUM_CLASSES)


def per_image(logits: jax.Array, labels: jax.Array, disparity_pred: jax.Array, disparity: jax.Array,
              disparity_mask: jax.Array) -> dict:
  """Per image: ``d1`` (19·CE over its valid pixels), ``d2`` and ``rmse_px`` (its masked disparity
  RMSE in pixels) and ``confusion`` (19×19 counts)."""
  d1 = segmentation_per_image(logits, labels)
  rmse = rmse_per_image(disparity_pred, disparity, disparity_mask)
  return {"d1": d1, "d2": rmse, "rmse_px": rmse, "confusion": confusion_counts(logits, labels)}
