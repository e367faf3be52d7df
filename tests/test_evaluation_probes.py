"""Tests for lossyless_jax.evaluation.probes (on scikit-learn's bundled 8x8 digits)."""
import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

from lossyless_jax.evaluation import probes


def _key(seed):
  return jax.random.key(seed, impl="rbg")


@pytest.fixture(scope="module")
def digits():
  d = load_digits()
  x = d.images.astype(np.float32) / 16.0
  y = d.target.astype(np.int32)
  perm = np.random.default_rng(0).permutation(len(y))
  tr, te = perm[:1300], perm[1300:]
  return x[tr], y[tr], x[te], y[te]


def test_linear_probe_on_raw_pixels_is_accurate_and_deterministic(digits):
  xtr, ytr, xte, yte = digits
  r1 = probes.train_linear_probe(_key(0), xtr, ytr, xte, yte, epochs=200)
  assert r1.test_accuracy > 0.9, r1
  r2 = probes.train_linear_probe(_key(0), xtr, ytr, xte, yte, epochs=200)
  assert r1.test_accuracy == r2.test_accuracy
  assert r1.final_train_loss_nats == r2.final_train_loss_nats
  assert set(r1.as_dict()) >= {"test_accuracy", "test_error", "train_accuracy"}


def test_mlp_probe_minibatch_with_batchnorm_and_dropout(digits):
  xtr, ytr, xte, yte = digits
  r = probes.train_mlp_probe(_key(1), xtr, ytr, xte, yte, hidden=(128,), epochs=8, batch_size=64,
                             learning_rate=3e-3)
  assert r.test_accuracy > 0.9, r
  assert "batch_stats" in r.variables


def test_cnn_classifier_on_images(digits):
  xtr, ytr, xte, yte = digits
  r = probes.train_cnn_classifier(_key(2), xtr[..., None], ytr, xte[..., None], yte, channels=(8, 16),
                                  hidden=32, epochs=4, batch_size=64, learning_rate=3e-3)
  assert r.test_accuracy > 0.85, r


def test_sklearn_svc_and_schedules(digits):
  xtr, ytr, xte, yte = digits
  assert probes.sklearn_linear_svc_probe(xtr, ytr, xte, yte, C=0.1)["test_accuracy"] > 0.9
  sched = probes.make_schedule("multistep", 1.0, 400, decay_factor=1000.0, num_decays=3)
  np.testing.assert_allclose([float(sched(s)) for s in (0, 99, 100, 200, 300, 399)],
                             [1.0, 1.0, 0.1, 0.01, 0.001, 0.001], rtol=1e-5)
  with pytest.raises(ValueError, match="unknown schedule"):
    probes.make_schedule("linear", 1.0, 10)
  with pytest.raises(ValueError, match="y_train must be a 1-D integer array"):
    probes.train_linear_probe(_key(0), xtr, ytr.astype(np.float32), xte, yte, epochs=1)


def test_refitting_the_same_architecture_compiles_nothing_new(digits):
  """One CNN per classical codec setting: the second fit of a model on the same shapes reuses the
  first fit's compiled step and prediction, whatever the key and the labels."""
  xtr, ytr, xte, yte = digits
  images_tr, images_te = xtr[:256, ..., None], xte[:64, ..., None]
  fit = lambda seed, y: probes.train_cnn_classifier(_key(seed), images_tr, y, images_te, yte[:64], num_classes=10,
                                                    channels=(4,), hidden=8, epochs=2, batch_size=64,
                                                    validation=(images_te, yte[:64]))
  first = fit(0, ytr[:256])
  sizes = probes._train_step._cache_size(), probes._predict._cache_size()
  second = fit(1, ytr[::-1][:256])
  assert (probes._train_step._cache_size(), probes._predict._cache_size()) == sizes
  assert first.final_train_loss_nats != second.final_train_loss_nats  # a real second fit
