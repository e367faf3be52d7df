"""Tests for lossyless_jax.losses.gray_wyner (combine-and-mask, rates, Lagrangian, model selection)."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy.quantization import quantize
from lossyless_jax.losses import gray_wyner as gwl


def _q(x):
  return quantize(jnp.asarray(x, jnp.float32), "ste_half_toward_zero")


# --- combine and mask (Eq. 14) ----------------------------------------------------------------------------


def test_combine_and_mask_keeps_the_common_value_only_where_quantized_candidates_agree():
  a = jnp.array([0.4, 1.6, -1.5, 2.0, -0.6, 0.5, 3.49, -2.5])
  b = jnp.array([0.2, 2.4, -1.2, 3.0, -0.5, -0.4, 3.2, -2.7])
  # Half toward zero: a -> [0, 2, -1, 2, -1, 0, 3, -2], b -> [0, 2, -1, 3, 0, 0, 3, -3].
  expected = np.array([0, 2, -1, 0, 0, 0, 3, 0], np.float32)
  np.testing.assert_array_equal(np.asarray(gwl.combine_and_mask(_q(a), _q(b))), expected)
  np.testing.assert_array_equal(np.asarray(gwl.combine_and_mask(a, b)), expected)

  rng = np.random.default_rng(0)
  qa = np.asarray(_q(4 * rng.standard_normal((2, 3, 3, 4))))
  flip = rng.random(qa.shape) < 0.4
  qb = np.where(flip, qa + np.where(qa > 0, -1.0, 1.0), qa).astype(np.float32)
  out = np.asarray(gwl.combine_and_mask(qa, qb))
  np.testing.assert_array_equal(out, np.where(flip, 0.0, qa))
  assert 0 < flip.mean() < 1


def test_combine_and_mask_gradient_is_half_to_each_candidate_where_they_match():
  a = jnp.array([0.4, 1.6, -1.5, 2.0])
  b = jnp.array([0.2, 2.4, -1.2, 3.0])
  c = jnp.array([1.0, 2.0, 3.0, 4.0])
  ga, gb = jax.grad(lambda x, y: jnp.sum(c * gwl.combine_and_mask(_q(x), _q(y))), argnums=(0, 1))(a, b)
  np.testing.assert_array_equal(np.asarray(ga), [0.5, 1.0, 1.5, 0.0])
  np.testing.assert_array_equal(np.asarray(gb), [0.5, 1.0, 1.5, 0.0])


def test_combine_and_mask_gradient_reaches_both_encoders():
  rng = np.random.default_rng(2)
  x = rng.standard_normal((16, 5)).astype(np.float32)
  enc = nn.Dense(6)
  p1 = {"kernel": rng.standard_normal((5, 6)).astype(np.float32), "bias": rng.standard_normal(6).astype(np.float32)}
  # Encoder 2 is encoder 1 slightly perturbed: most quantized outputs agree, some do not.
  p2 = {k: v + 0.1 * rng.standard_normal(v.shape).astype(np.float32) for k, v in p1.items()}
  scale = 3.0
  c = rng.standard_normal((16, 6)).astype(np.float32)

  @jax.jit
  def grads_and_match(p1, p2):
    def loss(p1, p2):
      y1 = _q(scale * enc.apply({"params": p1}, x))
      y2 = _q(scale * enc.apply({"params": p2}, x))
      return jnp.sum(c * gwl.combine_and_mask(y1, y2))

    match = _q(scale * enc.apply({"params": p1}, x)) == _q(scale * enc.apply({"params": p2}, x))
    return jax.grad(loss, argnums=(0, 1))(p1, p2), match

  (g1, g2), match = grads_and_match(p1, p2)
  match = np.asarray(match)
  assert 0.2 < match.mean() < 1.0
  upstream = 0.5 * scale * np.asarray(c) * match
  for g in (g1, g2):
    assert np.abs(np.asarray(g["kernel"])).max() > 0
    np.testing.assert_allclose(np.asarray(g["kernel"]), np.asarray(x).T @ upstream, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(g["bias"]), upstream.sum(0), rtol=1e-5, atol=1e-6)


def test_combine_and_mask_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="shapes differ"):
    gwl.combine_and_mask(jnp.zeros((2, 3)), jnp.zeros((3, 2)))


# --- rates ------------------------------------------------------------------------------------------------


def _lik():
  """(2, 1, 1, 2) likelihoods with exact bit counts; 4 input pixels per image."""
  y0 = jnp.array([[0.5, 0.25], [0.5, 0.5]]).reshape(2, 1, 1, 2)    # 3, 2 bits -> (3/4 + 2/4) / 2 = 0.625
  y1 = jnp.full((2, 1, 1, 2), 0.25)                                 # 4, 4 bits -> 1.0
  y2 = jnp.array([[0.125, 1.0], [0.125, 1.0]]).reshape(2, 1, 1, 2)  # 3, 3 bits -> 0.75
  return {"y0": y0, "y1": y1, "y2": y2}


def test_bits_per_pixel_counts_input_pixels_masks_and_pytrees():
  lik = _lik()
  assert float(gwl.bits_per_pixel(lik["y0"], 4)) == pytest.approx(0.625)
  assert float(gwl.bits_per_pixel({"a": lik["y0"], "b": lik["y1"]}, 4)) == pytest.approx(1.625)
  # Per-example pixel counts: 3/4 and 2/2.
  assert float(gwl.bits_per_pixel(lik["y0"], jnp.array([4.0, 2.0]))) == pytest.approx((0.75 + 1.0) / 2)
  p = jnp.full((2, 2, 2, 1), 0.5)  # 4 bits per image
  mask = gwl.latent_valid_mask([(32, 16), (32, 32)], (2, 2), stride=16)  # 2 and 4 valid positions
  np.testing.assert_array_equal(np.asarray(mask), [[[True, False], [True, False]], [[True, True], [True, True]]])
  assert float(gwl.bits_per_pixel(p, jnp.array([512.0, 1024.0]), mask)) == pytest.approx(
      (2 / 512 + 4 / 1024) / 2)


def test_latent_valid_mask_uses_ceil_of_image_size_over_stride():
  mask = np.asarray(gwl.latent_valid_mask([(64, 48), (30, 64)], (4, 4)))
  assert mask[0].sum() == 4 * 3 and mask[0][:, :3].all()
  assert mask[1].sum() == 2 * 4 and mask[1][:2].all()


def test_rate_metrics_transmit_and_receive():
  m = gwl.rate_metrics(0.5, 1.25, 2.0)
  assert float(m["Rt_bpp"]) == pytest.approx(0.5 + 1.25 + 2.0)
  assert float(m["Rr_bpp"]) == pytest.approx(2 * 0.5 + 1.25 + 2.0)
  assert float(m["Rr_bpp"] - m["Rt_bpp"]) == pytest.approx(float(m["R0_bpp"]))


# --- the Lagrangian ---------------------------------------------------------------------------------------

ETA, D1, D2 = 0.1, 1.0, 2.0
CAND = (jnp.array([[1.0, 2.0]]), jnp.array([[1.0, 0.0]]))  # MSE = (0 + 4) / 2 = 2


def _loss(codec, lik, **kw):
  return gwl.lagrangian(lik, D1, D2, codec=codec, num_pixels=4, eta=ETA, **kw)


def test_lagrangian_shared_with_beta_and_aux():
  loss, m = _loss("shared", _lik(), beta=1.5, common_candidates=CAND)
  assert float(loss) == pytest.approx(0.1 * (1.5 * 0.625 + 1.0 + 0.75) + 1.0 + 2.0 + 2.0)
  assert float(m["bpp_scaled"]) == pytest.approx(0.26875)
  assert float(m["aux_mse"]) == pytest.approx(2.0)
  assert float(m["rate_distortion"]) == pytest.approx(0.26875 + 3.0)
  loss_b1, _ = _loss("shared", _lik(), beta=1.0, common_candidates=CAND)
  assert float(loss_b1) == pytest.approx(0.1 * (0.625 + 1.75) + 3.0 + 2.0)


def test_lagrangian_aux_weight_scaled_by_eta():
  loss, _ = _loss("shared", _lik(), beta=1.5, common_candidates=CAND, aux_scaled_by_eta=True)
  assert float(loss) == pytest.approx(0.26875 + 3.0 + 0.1 * 2.0)
  loss, _ = _loss("shared", _lik(), beta=1.5, common_candidates=CAND, aux_weight=0.5)
  assert float(loss) == pytest.approx(0.26875 + 3.0 + 0.5 * 2.0)


@pytest.mark.parametrize("codec", ["separated", "combined"])
def test_lagrangian_separated_and_combined_have_beta_but_no_aux(codec):
  loss, m = _loss(codec, _lik(), beta=1.5)
  assert float(loss) == pytest.approx(0.26875 + 3.0)
  assert float(m["aux_mse"]) == 0.0
  with pytest.raises(ValueError, match="Shared-only"):
    _loss(codec, _lik(), beta=1.5, common_candidates=CAND)


def test_lagrangian_independent_has_no_common_rate_and_ignores_beta():
  lik = {k: v for k, v in _lik().items() if k != "y0"}
  loss, m = _loss("independent", lik, beta=2.0)
  assert float(loss) == pytest.approx(0.1 * 1.75 + 3.0)
  assert float(m["R0_bpp"]) == 0.0
  assert float(m["Rt_bpp"]) == float(m["Rr_bpp"]) == pytest.approx(1.75)


def test_lagrangian_joint_has_no_beta_and_reports_its_rate_as_r0():
  lik = {"y": _lik()["y0"]}
  loss, m = _loss("joint", lik, beta=1.5)
  assert float(loss) == pytest.approx(0.1 * 0.625 + 3.0)
  assert float(m["R0_bpp"]) == pytest.approx(0.625) and float(m["R1_bpp"]) == float(m["R2_bpp"]) == 0.0
  assert float(m["Rt_bpp"]) == pytest.approx(0.625)
  assert float(m["Rr_bpp"]) == pytest.approx(2 * 0.625)


def test_lagrangian_reconstruction_term():
  x = jnp.zeros((2, 2, 2, 1))
  x_hat_1 = jnp.concatenate([jnp.full((1, 2, 2, 1), 0.1), jnp.full((1, 2, 2, 1), 0.3)])  # RMSE 0.1, 0.3
  lik = {"y": _lik()["y0"]}
  loss, m = _loss("joint", lik, reconstructions=(x_hat_1, x), inputs=x, recon_weight=1.0)
  assert float(m["rmse_rec_1"]) == pytest.approx(255 * 0.2, rel=1e-5)
  assert float(m["rmse_rec_2"]) == 0.0
  assert float(loss) == pytest.approx(0.0625 + 3.0 + 51.0, rel=1e-5)
  loss0, m0 = _loss("joint", lik, reconstructions=(x_hat_1, x), inputs=x, recon_weight=0.0)
  assert float(loss0) == pytest.approx(0.0625 + 3.0) and float(m0["rmse_rec_1"]) == pytest.approx(51.0, rel=1e-5)
  g = jax.grad(lambda r: _loss("joint", lik, reconstructions=(r, x), inputs=x, recon_weight=1.0)[0])(x)
  assert np.isfinite(np.asarray(g)).all()  # sqrt at an exact reconstruction has a finite gradient


def test_reconstruction_rmse_mask_divides_by_full_count():
  x = jnp.zeros((1, 2, 2, 1))
  x_hat = jnp.ones((1, 2, 2, 1))
  mask = jnp.array([[[1, 0], [0, 0]]])
  assert float(gwl.reconstruction_rmse(x_hat, x, scale=1.0, pixel_mask=mask)) == pytest.approx(math.sqrt(0.25))


def test_lagrangian_rejects_inconsistent_inputs():
  with pytest.raises(ValueError, match="channels"):
    _loss("joint", _lik())
  with pytest.raises(ValueError, match="channels"):  # an extra channel (Y0 given to Independent)
    _loss("independent", _lik())
  with pytest.raises(ValueError, match="common_candidates"):
    _loss("shared", _lik())
  loss, _ = _loss("shared", _lik(), aux_weight=0.0)
  assert float(loss) == pytest.approx(0.1 * (0.625 + 1.75) + 3.0)
  with pytest.raises(ValueError, match="recon_weight"):
    _loss("independent", {"y1": _lik()["y1"], "y2": _lik()["y2"]}, recon_weight=1.0)
  with pytest.raises(ValueError, match="codec must be one of"):
    _loss("pangloss", _lik())


def test_lagrangian_gradient_reaches_both_common_candidates_through_aux():
  a, b = jnp.array([[1.2, 2.0]]), jnp.array([[0.9, -0.3]])

  def f(a, b):
    return _loss("shared", _lik(), common_candidates=(_q(a), _q(b)))[0]

  ga, gb = jax.grad(f, argnums=(0, 1))(a, b)
  # d/da mean((qa - qb)^2) = (qa - qb) over 2 elements, STE identity: qa = [1, 2], qb = [1, 0].
  np.testing.assert_allclose(np.asarray(ga), [[0.0, 2.0]])
  np.testing.assert_allclose(np.asarray(gb), [[0.0, -2.0]])


# --- model selection --------------------------------------------------------------------------------------


def test_validation_objective_per_experiment():
  assert gwl.validation_objective(0.5, 0.2, 0.3) == pytest.approx(1.0)
  city = gwl.validation_objective(0.5, 0.5, 5.0, inverse=gwl.VALIDATION_INVERSE["cityscapes"])
  assert city == pytest.approx(0.5 + 1 / 0.5 + 5.0)
  coco = gwl.validation_objective(0.5, 0.4, 0.8, inverse=gwl.VALIDATION_INVERSE["coco"])
  assert coco == pytest.approx(0.5 + 1 / 0.4 + 1 / 0.8)


def test_select_best_epoch_ties_go_to_the_later_epoch():
  assert gwl.select_best_epoch([3.0, 2.0, 2.0, 5.0]) == 2
  assert gwl.select_best_epoch([1.0, float("nan"), 0.5]) == 2
  with pytest.raises(ValueError):
    gwl.select_best_epoch([float("nan")])


def test_select_best_epoch_with_patience():
  objectives = [3.0, 2.0, 2.5, 2.6, 1.0]
  assert gwl.early_stopping_epoch(objectives, 2) == 3
  assert gwl.select_best_epoch(objectives, patience=2) == 1
  assert gwl.select_best_epoch(objectives, patience=3) == 4
  assert gwl.select_best_epoch(objectives) == 4
  # A tie is not an improvement for early stopping, but wins the selection.
  ties = [3.0, 2.0, 2.0, 2.0, 1.0]
  assert gwl.early_stopping_epoch(ties, 2) == 3
  assert gwl.select_best_epoch(ties, patience=2) == 3
  # A non-finite value stops training.
  assert gwl.select_best_epoch([1.0, float("nan"), 0.5], patience=5) == 0
