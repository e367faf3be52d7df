"""Distortions of the invariant compressors of "Lossy Compression for Lossless Prediction".

Pure functions: arrays in, ``(scalar, metrics)`` out; no Flax modules, no state. The rate term
(−log q_θ(ẑ), in nats) comes from ``lossyless_jax.entropy`` and is combined by the method.

Loss weighting (keep this next to any use):

- Main text, Eq. (7)/(8)/(9): ``L = rate + β · distortion``.
- Appendix E and every sweep in the paper: ``L = λ · rate + distortion`` with ``λ = 1/β``.
  ``lmbda`` (λ) is the coefficient on the **rate**, in nats.
- Authors' code: ``L = distortion / factor_beta + λ · rate`` with ``factor_beta`` = 1 (VIC),
  0.5 (VC, i.e. distortion ×2) and 0.003 (BINCE, i.e. ×333).
- Staggered lossy-Z (CLIP recipe, §2.6): ``L = ‖z − ẑ‖₁ + λ · rate``; λ ∈ {1e-2, 5e-2, 1e-1},
  larger λ = fewer bits.

``lagrangian`` below implements the code convention ``distortion / distortion_factor + lmbda ·
rate_nats``. The reconstruction distortions are per example: a sum over pixels (images) or a mean
over coordinates (``reduce="mean"``, Banana), as in the authors' code; the method averages them
over the batch.
"""
from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

__all__ = [
    "Likelihood",
    "reconstruction_nll",
    "vic_distortion",
    "vc_distortion",
    "lossy_z_distortion",
    "lagrangian",
]

Likelihood = Literal["bernoulli", "gaussian_sigmoid", "gaussian"]


def _flat(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


def _per_example_sum(x: jax.Array) -> jax.Array:
  return jnp.sum(_flat(x), axis=-1)


def _per_example(x: jax.Array, reduce: str) -> jax.Array:
  if reduce == "sum":
    return _per_example_sum(x)
  if reduce == "mean":
    return jnp.mean(_flat(x), axis=-1)
  raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")


def reconstruction_nll(
    decoder_out: jax.Array, target: jax.Array, likelihood: Likelihood = "bernoulli", reduce: str = "sum"
) -> jax.Array:
  """Per-example reconstruction distortion ``-log q_φ(target | z)`` up to constants, shape ``(B,)``.

  ``likelihood``:
    - ``"bernoulli"``: ``decoder_out`` are logits; Bernoulli NLL (binary cross-entropy with
      logits) **summed** over pixels, in nats. For grey images in [0, 1] (MNIST, not normalised).
    - ``"gaussian_sigmoid"``: ``sum((sigmoid(decoder_out) − target)²)``; colour images in [0, 1]
      (Gaussian with fixed variance, the authors' colour choice).
    - ``"gaussian"``: ``sum((decoder_out − target)²)``; unbounded targets such as Banana points.

  ``reduce``: ``"sum"`` over coordinates (pixels), or ``"mean"`` (Banana, the authors' code).
  """
  if decoder_out.shape != target.shape:
    raise ValueError(
        f"decoder output shape {tuple(decoder_out.shape)} != target shape {tuple(target.shape)}"
    )
  # per example, flat: XLA:CPU (its YNNPACK fusions) ran these reductions over (B, H, W, 1)
  # images 30× slower than over (B, H·W)
  decoder_out, target = _flat(decoder_out), _flat(target)
  if likelihood == "bernoulli":
    # Stable BCE with logits: max(l, 0) − l·t + log(1 + exp(−|l|)).
    l, t = decoder_out, target
    per = jnp.maximum(l, 0) - l * t + jnp.log1p(jnp.exp(-jnp.abs(l)))
  elif likelihood == "gaussian_sigmoid":
    per = jnp.square(jax.nn.sigmoid(decoder_out) - target)
  elif likelihood == "gaussian":
    per = jnp.square(decoder_out - target)
  else:
    raise ValueError(
        f"likelihood must be 'bernoulli', 'gaussian_sigmoid' or 'gaussian', got {likelihood!r}"
    )
  return _per_example(per, reduce)


def _metrics(prefix: str, per_example: jax.Array, decoder_out, target, likelihood) -> dict:
  decoder_out, target = _flat(decoder_out), _flat(target)
  recon = jax.nn.sigmoid(decoder_out) if likelihood != "gaussian" else decoder_out
  mse = jnp.mean(jnp.square(recon - target))
  return {
      f"{prefix}_distortion": jnp.mean(per_example),
      f"{prefix}_mse_per_dim": mse,
  }


def vic_distortion(
    decoder_out: jax.Array, x_unaugmented: jax.Array, likelihood: Likelihood = "bernoulli", reduce: str = "sum"
) -> tuple[jax.Array, dict]:
  """VIC distortion, Eq. (8) / Eq. (95): ``E[−log q_φ(x | Z)]`` with ``Z`` the code of the
  **augmented** ``A(x)`` and the target the **unaugmented** ``x`` (which plays the role of the
  maximal invariant ``M(X)``, Eq. (7)/(90)). For Banana, pass the orbit representative
  (``data.banana.representative``) with ``likelihood="gaussian"``.

  Full objective (paper, Eq. 8): ``rate + β · distortion``; as trained (App. E, code):
  ``distortion + λ · rate`` (λ = 1/β; code ``factor_beta`` 1 for VIC).

  Returns ``(per-example distortion (B,), metrics)``.
  """
  per = reconstruction_nll(decoder_out, x_unaugmented, likelihood, reduce)
  return per, _metrics("vic", per, decoder_out, x_unaugmented, likelihood)


def vc_distortion(
    decoder_out: jax.Array, x_encoded: jax.Array, likelihood: Likelihood = "bernoulli", reduce: str = "sum"
) -> tuple[jax.Array, dict]:
  """VC ("variational compressor", the standard neural compressor baseline; "VAE" in the code):
  the same reconstruction likelihood as Eq. (8) but the target is the input that was encoded
  (the augmented image ``A(x)``; on Banana the raw point ``x``), i.e. ``E[−log q_φ(X | Z)]``.

  Code convention: ``factor_beta = 0.5`` for VC on images (``L = 2 · distortion + λ · rate``),
  1 on Banana. Returns ``(per-example distortion (B,), metrics)``.
  """
  per = reconstruction_nll(decoder_out, x_encoded, likelihood, reduce)
  return per, _metrics("vc", per, decoder_out, x_encoded, likelihood)


def lossy_z_distortion(z: jax.Array, z_hat: jax.Array) -> tuple[jax.Array, dict]:
  """Staggered ("lossy-Z") feature distortion, paper §2.6 / App. E.6 and Source Code 2 (line 20,
  ``torch.norm(z − z_hat, p=1, dim=-1).mean()``): ``E‖z − ẑ‖₁`` (L1, not squared), with ``z`` the
  frozen representation and ``ẑ`` its dequantised reconstruction.

  The paper's text (App. E.6) writes ``λ‖z − ẑ‖ − log q_θ(z)`` ("MSE"); the code and Source Code 2
  use ``‖z − ẑ‖₁ + λ · rate`` with λ on the **rate** (λ ∈ {1e-2, 5e-2, 1e-1}); follow the code.
  """
  if z.shape != z_hat.shape:
    raise ValueError(f"z shape {tuple(z.shape)} != z_hat shape {tuple(z_hat.shape)}")
  per = _per_example_sum(jnp.abs(z - z_hat))
  return per, {
      "lossy_z_l1": jnp.mean(per),
      "lossy_z_mse_per_dim": jnp.mean(jnp.square(z - z_hat)),
  }


def lagrangian(
    distortion: jax.Array,
    rate_nats: jax.Array,
    *,
    lmbda: float | jax.Array,
    distortion_factor: float = 1.0,
) -> tuple[jax.Array, dict]:
  """Rate–distortion Lagrangian in the code's convention:
  ``distortion / distortion_factor + lmbda · mean(rate_nats)``.

  ``lmbda`` is λ = 1/β of the paper's Eq. (7)–(9) (App. E: "we optimize λ I[Z; X] + D"), the
  coefficient on the rate in nats. ``distortion_factor`` is the code's ``factor_beta``:
  1 (VIC), 0.5 (VC), 0.003 (BINCE). ``rate_nats`` may be per-example ``(B,)`` or a scalar.
  Metrics report the rate in bits.
  """
  rate = jnp.mean(rate_nats)
  loss = distortion / distortion_factor + lmbda * rate
  return loss, {
      "loss": loss,
      "distortion": distortion,
      "rate_bits_per_example": rate / jnp.log(2.0),
  }
