"""Cityscapes task distortions and scores against independent computations (scikit-learn, NumPy loops)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, jaccard_score, recall_score

from lossyless_jax.evaluation import segmentation
from lossyless_jax.losses import cityscapes as cs


def _random_batch(seed=0, b=3, h=6, w=10):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(b, h, w, 19)).astype(np.float32)
  labels = rng.integers(0, 19, size=(b, h, w))
  labels[rng.random((b, h, w)) < 0.25] = 19  # ignore pixels
  return logits, labels


def test_confusion_miou_and_macro_accuracy_match_scikit_learn():
  logits, labels = _random_batch()
  conf = np.asarray(cs.confusion_counts(jnp.asarray(logits), jnp.asarray(labels))).sum(0)
  keep = labels != 19
  y, p = labels[keep], logits.argmax(-1)[keep]
  np.testing.assert_array_equal(conf, confusion_matrix(y, p, labels=np.arange(19)))
  present = np.union1d(np.unique(y), np.unique(p))
  assert segmentation.mean_iou(conf) == pytest.approx(jaccard_score(y, p, labels=present, average="macro"), rel=1e-12)
  assert segmentation.macro_accuracy(conf) == pytest.approx(
      recall_score(y, p, labels=np.unique(y), average="macro"), rel=1e-12)
  assert segmentation.pixel_accuracy(conf) == pytest.approx(np.mean(y == p))


def test_confusion_is_per_image():
  logits, labels = _random_batch(1)
  per = np.asarray(cs.confusion_counts(jnp.asarray(logits), jnp.asarray(labels)))
  for i in range(labels.shape[0]):
    keep = labels[i] != 19
    np.testing.assert_array_equal(per[i], confusion_matrix(labels[i][keep], logits[i].argmax(-1)[keep],
                                                           labels=np.arange(19)))


def test_segmentation_loss_is_19_ce_over_valid_pixels_of_the_batch():
  logits, labels = _random_batch(2)
  keep = labels != 19
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -np.take_along_axis(logp, np.where(keep, labels, 0)[..., None], -1)[..., 0]
  expect = 19 * ce[keep].mean()
  assert float(cs.segmentation_loss(jnp.asarray(logits), jnp.asarray(labels))) == pytest.approx(expect, rel=1e-5)


def test_depth_loss_and_per_image_rmse_in_pixels():
  rng = np.random.default_rng(3)
  t = rng.uniform(0, 1, size=(4, 5, 7)).astype(np.float32)
  pred = t + rng.normal(0, 0.01, size=t.shape).astype(np.float32)
  mask = (rng.random(t.shape) > 0.3).astype(np.float32)
  mse = np.array([np.mean((pred[b] - t[b])[mask[b] > 0] ** 2) for b in range(4)])
  assert float(cs.depth_loss(jnp.asarray(pred), jnp.asarray(t), jnp.asarray(mask))) == pytest.approx(
      128 * np.sqrt(mse.mean()), rel=1e-5)
  logits, labels = _random_batch(4, b=4, h=5, w=7)
  out = cs.per_image(jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(pred), jnp.asarray(t), jnp.asarray(mask))
  np.testing.assert_allclose(np.asarray(out["rmse_px"]), 128 * np.sqrt(mse), rtol=1e-5)
  # masked pixels do not count: changing the prediction there changes nothing
  pred2 = np.where(mask > 0, pred, 100.0)
  assert float(cs.depth_loss(jnp.asarray(pred2), jnp.asarray(t), jnp.asarray(mask))) == pytest.approx(
      128 * np.sqrt(mse.mean()), rel=1e-5)


def test_depth_loss_gradient_is_finite_at_an_exact_fit():
  t = jnp.ones((2, 3, 3))
  g = jax.grad(lambda p: cs.depth_loss(p, t, jnp.ones_like(t)))(t)
  assert np.all(np.isfinite(np.asarray(g)))


def test_scores_of_a_perfect_and_an_empty_prediction():
  conf = np.diag(np.arange(1, 20, dtype=float))
  assert segmentation.mean_iou(conf) == 1.0 and segmentation.macro_accuracy(conf) == 1.0
  assert np.isnan(segmentation.mean_iou(np.zeros((19, 19))))
  with pytest.raises(ValueError, match="square"):
    segmentation.mean_iou(np.zeros((3, 4)))
