"""Objective of the learnable Gray-Wyner network: combine-and-mask, rates, Lagrangian, model selection.

Pure functions: arrays in, scalars (+ a dict of metrics) out; no Flax modules, no state.

* :func:`combine_and_mask` — §3.3, Eq. 14: the common latent keeps ``½(Y0¹ + Y0²)`` where the two
  quantised common candidates agree exactly and 0 elsewhere.
* Rates in **bits per input pixel** (BPP): ``R = mean_b Σ_{h,w,c} −log2 p(y_bhwc) / (H·W)``, with
  ``H, W`` the *input image* size, not the latent size (§4, Figs. 3 and 9: "bitrate scaled by
  1/(64×64)"). The multiplier η is calibrated on BPP (Tables 2–8), so the Lagrangian uses BPP, not
  nats. Padded latent positions (a batch padded to a multiple of 64) are masked out and
  ``num_pixels`` is the true image area.
* :func:`lagrangian` — §3.2, Eq. 12 with ``λ1 = λ2 = λ``, divided by λ (``η = 1/λ``, the η of
  Tables 2–8), plus the agreement term of §3.3, Eq. 15 and the input-reconstruction term of the
  vision experiments (Table 1, App. D.5)::

      L = η (β R0 + R1 + R2) + d1 + d2 + w_rec (RMSE_rec,1 + RMSE_rec,2) + w_aux MSE(Y0¹, Y0²)

  per codec (§4.1, Fig. 8): Shared, Separated and Combined use ``η(βR0 + R1 + R2)``; Independent
  ``η(R1 + R2)``; Joint, with one channel ``Y``, ``η R_Y`` **without β**. ``MSE(Y0¹, Y0²)`` is the
  plain mean over all ``B·h·w·C`` elements of the quantised (straight-through) candidates, i.e.
  Eq. 15 with γ = 1, present only for Shared (the other codecs have one common encoder or none).
  ``w_aux`` is the paper's γ (1 in Table 1); the authors' code for the coloured digits multiplies it
  by η (``aux_scaled_by_eta=True``). ``w_rec`` is Table 1's "reconstruction loss weight" (0 for the
  synthetic source and the digits, 1 for Cityscapes and COCO). The task distortions ``d1, d2`` come
  in with their weights folded in (e.g. 19·CE, 128·RMSE).
* Rate metrics (§2.1): ``Rt = R0 + R1 + R2`` (transmit) and ``Rr = 2R0 + R1 + R2`` (receive).
  Joint reports its single rate in the R0 column (Tables 2, 7, 8), so ``Rt = R_Y`` and
  ``Rr = 2R_Y``; Independent has ``R0 = 0``, so ``Rt = Rr``.
* :func:`validation_objective` and :func:`select_best_epoch` — model selection (the authors' code;
  the paper gives the patience, Table 1): the validation rate term of the loss plus ``d1 + d2``,
  where a task scored by mIoU or mAP enters as ``1/score`` (the tables' ``1/D1 = mIoU``, Tables 7
  and 8), checked once per epoch with early stopping; the reported RD point is the best epoch's.

**Rate interface.** :func:`lagrangian` takes the entropy models' likelihood arrays, as a mapping
from channel name to an array (or a pytree of arrays, whose bits add up) of shape ``(B, h, w, C)``:
``{"y0", "y1", "y2"}`` for Shared / Separated / Combined, ``{"y1", "y2"}`` for Independent, and
``{"y"}`` for Joint. Per-element probabilities are what a Gaussian/context entropy model returns;
a caller holding −log p in nats passes ``exp(−nats)``.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp

from lossyless_jax.entropy.quantization import quantize
from lossyless_jax.entropy.rates import nats_to_bits, rate_nats

__all__ = [
  "CODECS",
  "CHANNELS",
  "VALIDATION_INVERSE",
  "combine_and_mask",
  "common_mse",
  "latent_valid_mask",
  "bits_per_pixel",
  "codec_rates",
  "rate_metrics",
  "scaled_rate",
  "aux_coefficient",
  "reconstruction_rmse",
  "lagrangian",
  "validation_objective",
  "early_stopping_epoch",
  "select_best_epoch",
]

CODECS = ("shared", "separated", "combined", "independent", "joint")

# Likelihood channels each codec's entropy models produce (§4.1, Fig. 8).
CHANNELS = {
  "shared": ("y0", "y1", "y2"),
  "separated": ("y0", "y1", "y2"),
  "combined": ("y0", "y1", "y2"),
  "independent": ("y1", "y2"),
  "joint": ("y",),
}

# Which validation distortion enters the model-selection objective as 1/score (a quality).
VALIDATION_INVERSE = {
  "synthetic": (False, False),        # RMSE, RMSE
  "coloured_digits": (False, False),  # CE, CE
  "cityscapes": (True, False),        # 1/mIoU, disparity RMSE [px]
  "coco": (True, True),               # 1/mAP_det, 1/mAP_kp
}


def _check_codec(codec: str) -> str:
  if codec not in CODECS:
    raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
  return codec


def combine_and_mask(y0_1: jax.Array, y0_2: jax.Array) -> jax.Array:
  """§3.3, Eq. 14: ``[Y0]_i = ½([Y0¹]_i + [Y0²]_i)`` if ``[Y0¹]_i = [Y0²]_i`` else 0.

  ``y0_1``, ``y0_2`` are the two common candidates, normally already straight-through quantised
  (the encoders' outputs rounded half toward zero). They are passed through
  ``quantize(·, "ste_half_toward_zero")`` once more, which leaves such values unchanged (identity
  forward on integers, identity gradient) and makes the comparison one of exact integers for any
  input. Where they agree the output equals the common integer and each candidate receives half
  the incoming gradient; elsewhere the output is 0 and no gradient flows through this path.
  """
  if jnp.shape(y0_1) != jnp.shape(y0_2):
    raise ValueError(f"combine_and_mask: candidate shapes differ: {jnp.shape(y0_1)} vs {jnp.shape(y0_2)}")
  a = quantize(y0_1, "ste_half_toward_zero")
  b = quantize(y0_2, "ste_half_toward_zero")
  return jnp.where(a == b, 0.5 * (a + b), jnp.zeros_like(a))


def common_mse(y0_1: jax.Array, y0_2: jax.Array) -> jax.Array:
  """§3.3, Eq. 15's agreement term with γ/|Y0| = 1/|Y0|: ``mean((Y0¹ − Y0²)²)`` over every element."""
  if jnp.shape(y0_1) != jnp.shape(y0_2):
    raise ValueError(f"common_mse: candidate shapes differ: {jnp.shape(y0_1)} vs {jnp.shape(y0_2)}")
  return jnp.mean(jnp.square(y0_1 - y0_2))


def latent_valid_mask(image_sizes: Sequence[tuple[int, int]], latent_hw: tuple[int, int],
                      stride: int = 16) -> jax.Array:
  """``(B, h, w)`` boolean mask of the latent positions of each image's true ``(height, width)``:
  the first ``⌈height/stride⌉`` rows and ``⌈width/stride⌉`` columns (a batch padded to a common size)."""
  h, w = (int(v) for v in latent_hw)
  rows = jnp.arange(h)[None, :, None]
  cols = jnp.arange(w)[None, None, :]
  hs = jnp.asarray([math.ceil(int(a) / stride) for a, _ in image_sizes])[:, None, None]
  ws = jnp.asarray([math.ceil(int(b) / stride) for _, b in image_sizes])[:, None, None]
  return (rows < hs) & (cols < ws)


def bits_per_pixel(likelihoods: Any, num_pixels: float | jax.Array, latent_mask: jax.Array | None = None
                   ) -> jax.Array:
  """Batch-mean rate in bits per input pixel: ``mean_b Σ −log2 p / num_pixels_b``.

  ``likelihoods``: an array ``(B, h, w, C)`` or a pytree of such arrays (their bits add up).
  ``num_pixels``: the input image area ``H·W``, a scalar or per-example ``(B,)``.
  ``latent_mask``: optional ``(B, h, w)``; positions where it is False cost 0 bits.
  """
  if latent_mask is not None:
    mask = jnp.asarray(latent_mask, bool)

    def apply(p):
      if p.ndim != 4 or p.shape[:3] != mask.shape:
        raise ValueError(f"bits_per_pixel: likelihoods {p.shape} do not match latent_mask {mask.shape} "
                         "(expected (B, h, w, C) and (B, h, w))")
      return jnp.where(mask[..., None], p, jnp.ones_like(p))

    likelihoods = jax.tree_util.tree_map(apply, likelihoods)
  bits = nats_to_bits(rate_nats(likelihoods))  # (B,)
  return jnp.mean(bits / jnp.asarray(num_pixels, bits.dtype))


def codec_rates(likelihoods: Mapping[str, Any], codec: str, num_pixels: float | jax.Array,
                latent_mask: jax.Array | None = None) -> dict[str, jax.Array]:
  """``{"R0", "R1", "R2"}`` in BPP from a codec's likelihoods (keys of :data:`CHANNELS`).

  Independent has ``R0 = 0``; Joint's single rate is reported as R0 (``R1 = R2 = 0``).
  """
  _check_codec(codec)
  expected = set(CHANNELS[codec])
  if set(likelihoods) != expected:
    raise ValueError(f"codec {codec!r} needs likelihoods for channels {sorted(expected)}, "
                     f"got {sorted(likelihoods)}")
  r = {k: bits_per_pixel(v, num_pixels, latent_mask) for k, v in likelihoods.items()}
  zero = jnp.zeros((), jnp.float32)
  if codec == "joint":
    return {"R0": r["y"], "R1": zero, "R2": zero}
  return {"R0": r.get("y0", zero), "R1": r["y1"], "R2": r["y2"]}


def rate_metrics(r0, r1, r2) -> dict[str, jax.Array]:
  """BPP metrics: ``R0, R1, R2``, transmit ``Rt = R0 + R1 + R2`` and receive ``Rr = 2R0 + R1 + R2``."""
  r0, r1, r2 = (jnp.asarray(v) for v in (r0, r1, r2))
  return {"R0_bpp": r0, "R1_bpp": r1, "R2_bpp": r2, "Rt_bpp": r0 + r1 + r2, "Rr_bpp": 2 * r0 + r1 + r2}


def scaled_rate(rates: Mapping[str, Any], codec: str, eta: float | jax.Array, beta: float | jax.Array = 1.0
                ) -> jax.Array:
  """The code's "BPP Scaled": ``η(βR0 + R1 + R2)`` (Shared, Separated, Combined), ``η(R1 + R2)``
  (Independent), ``η R0 = η R_Y`` (Joint: no β)."""
  _check_codec(codec)
  r0, r1, r2 = (jnp.asarray(rates[k]) for k in ("R0", "R1", "R2"))
  if codec == "joint":
    return eta * r0
  if codec == "independent":
    return eta * (r1 + r2)
  return eta * (beta * r0 + r1 + r2)


def aux_coefficient(aux_weight: float, eta: float | jax.Array, aux_scaled_by_eta: bool = False):
  """``w_aux`` (γ), times η when ``aux_scaled_by_eta`` (the authors' coloured-digits code)."""
  return aux_weight * eta if aux_scaled_by_eta else aux_weight


def _safe_sqrt(x: jax.Array) -> jax.Array:
  # sqrt with gradient 0 (not inf/NaN) at exactly 0; identical forward values.
  pos = x > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def reconstruction_rmse(x_hat: jax.Array, x: jax.Array, scale: float = 255.0,
                        pixel_mask: jax.Array | None = None) -> jax.Array:
  """``scale · mean_b sqrt(mean_{h,w,c} (x̂_b − x_b)²)``, images in [0, 1], NHWC (App. D.5).

  ``pixel_mask`` ``(B, H, W)`` zeroes padded pixels; as in the authors' code the mean still divides
  by the full element count (irrelevant for unpadded batches).
  """
  if x_hat.shape != x.shape:
    raise ValueError(f"reconstruction_rmse: reconstruction {x_hat.shape} and input {x.shape} differ")
  se = jnp.square(x_hat - x)
  if pixel_mask is not None:
    se = se * jnp.asarray(pixel_mask, se.dtype)[..., None]
  mse = jnp.mean(se.reshape(se.shape[0], -1), axis=-1)
  return scale * jnp.mean(_safe_sqrt(mse))


def lagrangian(
    likelihoods: Mapping[str, Any],
    d1: jax.Array | float,
    d2: jax.Array | float,
    *,
    codec: str,
    num_pixels: float | jax.Array,
    eta: float | jax.Array,
    beta: float | jax.Array = 1.0,
    latent_mask: jax.Array | None = None,
    common_candidates: tuple[jax.Array, jax.Array] | None = None,
    aux_weight: float = 1.0,
    aux_scaled_by_eta: bool = False,
    reconstructions: tuple[jax.Array, jax.Array] | None = None,
    inputs: jax.Array | None = None,
    recon_weight: float = 0.0,
    recon_scale: float = 255.0,
    pixel_mask: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Training loss ``η(βR0 + R1 + R2) + d1 + d2 + w_rec(RMSE_rec,1 + RMSE_rec,2) + w_aux MSE(Y0¹, Y0²)``.

  ``likelihoods``: per-channel likelihoods (module docstring); rates in BPP over ``num_pixels`` =
  input ``H·W``. ``d1, d2``: scalar task distortions (batch means, weights folded in). ``eta`` = η =
  1/λ, ``beta`` = β ∈ [1, 2] (ignored by Independent and Joint). ``common_candidates``: the Shared
  codec's quantised ``(Y0¹, Y0²)``, required there unless the aux coefficient is 0, refused for
  the other codecs. ``reconstructions``: the two synthesis outputs ``(X̂1, X̂2)`` with ``inputs`` X,
  required when ``recon_weight != 0`` and logged whenever given.

  Returns ``(loss, metrics)``; metrics hold ``R0_bpp … Rr_bpp``, ``bpp_scaled``, ``d1``, ``d2``,
  ``rate_distortion`` (= ``bpp_scaled + d1 + d2``), ``aux_mse``, ``rmse_rec_1/2`` and ``loss``.
  """
  _check_codec(codec)
  rates = codec_rates(likelihoods, codec, num_pixels, latent_mask)
  bpp_scaled = scaled_rate(rates, codec, eta, beta)
  d1, d2 = jnp.asarray(d1), jnp.asarray(d2)
  rate_distortion = bpp_scaled + d1 + d2
  loss = rate_distortion
  metrics = dict(rate_metrics(rates["R0"], rates["R1"], rates["R2"]))

  aux_w = aux_coefficient(aux_weight, eta, aux_scaled_by_eta)
  if codec == "shared":
    if common_candidates is None:
      if not (isinstance(aux_w, (int, float)) and aux_w == 0):
        raise ValueError("codec 'shared' needs common_candidates=(Y0_1, Y0_2) for the agreement term "
                         "(or aux_weight=0)")
      aux = jnp.zeros((), loss.dtype)
    else:
      aux = common_mse(*common_candidates)
    loss = loss + aux_w * aux
  else:
    if common_candidates is not None:
      raise ValueError(f"codec {codec!r} has no pair of common candidates; the agreement term is "
                       "Shared-only, so pass common_candidates=None")
    aux = jnp.zeros((), loss.dtype)
  metrics["aux_mse"] = aux

  if reconstructions is not None:
    if inputs is None:
      raise ValueError("reconstructions were given without inputs")
    rmse_1, rmse_2 = (reconstruction_rmse(r, inputs, recon_scale, pixel_mask) for r in reconstructions)
    metrics["rmse_rec_1"], metrics["rmse_rec_2"] = rmse_1, rmse_2
    if recon_weight != 0:
      loss = loss + recon_weight * (rmse_1 + rmse_2)
  elif recon_weight != 0:
    raise ValueError(f"recon_weight={recon_weight} needs reconstructions=(X1_hat, X2_hat) and inputs")

  metrics.update(bpp_scaled=bpp_scaled, d1=d1, d2=d2, rate_distortion=rate_distortion, loss=loss)
  return loss, metrics


def validation_objective(bpp_scaled, d1, d2, *, inverse: tuple[bool, bool] = (False, False)):
  """Model-selection objective: ``bpp_scaled + t1 + t2`` with ``t_i = 1/d_i`` where ``inverse[i]``
  (a quality such as mIoU or mAP), else ``d_i`` (a loss such as RMSE or CE).

  Inputs are validation-epoch means. Per experiment (:data:`VALIDATION_INVERSE`): synthetic and
  coloured digits ``bpp_scaled + d1 + d2``; Cityscapes ``bpp_scaled + 1/mIoU + RMSE_depth``; COCO
  ``bpp_scaled + 1/mAP_det + 1/mAP_kp``.
  """
  terms = [1.0 / d if inv else d for d, inv in zip((d1, d2), inverse)]
  return bpp_scaled + terms[0] + terms[1]


def _as_floats(objectives: Sequence[float]) -> list[float]:
  values = [float(v) for v in objectives]
  if not values:
    raise ValueError("no epochs: objectives is empty")
  return values


def early_stopping_epoch(objectives: Sequence[float], patience: int) -> int:
  """Index of the last epoch that runs under early stopping (mode min, min_delta 0): training stops
  after ``patience`` consecutive epochs without a strict improvement, or at a non-finite value."""
  if int(patience) != patience or patience < 0:
    raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
  best, wait = math.inf, 0
  values = _as_floats(objectives)
  for i, v in enumerate(values):
    if not math.isfinite(v):
      return i
    if v < best:
      best, wait = v, 0
    else:
      wait += 1
      if wait >= patience:
        return i
  return len(values) - 1


def select_best_epoch(objectives: Sequence[float], patience: int | None = None) -> int:
  """Index of the epoch whose validation objective is lowest; **ties go to the later epoch**
  (the scan keeps ``value <= best``). With ``patience``, only the epochs that run before early
  stopping (:func:`early_stopping_epoch`) count. Non-finite values are never selected."""
  values = _as_floats(objectives)
  if patience is not None:
    values = values[: early_stopping_epoch(values, patience) + 1]
  best, best_i = math.inf, None
  for i, v in enumerate(values):
    if math.isfinite(v) and v <= best:
      best, best_i = v, i
  if best_i is None:
    raise ValueError("no finite validation objective to select from")
  return best_i
