"""BINCE's contrastive distortion: NT-Xent / InfoNCE over in-batch negatives.

"Lossy Compression for Lossless Prediction", Eq. (9) / Eq. (100) and Algorithm 3 (batched):
two augmentations ``x̃, x̃'`` of a batch of ``B`` examples are encoded (and passed through the
same entropy bottleneck) to ``z, z'``; for every one of the ``2B`` codes the positive is the code
of the other view of the same example and the ``2B − 2`` codes of the other examples are the
negatives (self-similarity excluded). ``f_ψ`` is the cosine similarity of projected codes divided
by a learnable temperature (App. E.4, the authors' code):

- ``logit_scale`` is initialised to ``log(1/0.07)`` and ``T = 1 / min(exp(logit_scale), 1/τ_min)``
  with ``τ_min = 0.01``, i.e. ``T = max(exp(−logit_scale), 0.01)`` (CLIP's parametrisation);
- per-example loss: cross-entropy of the ``2B − 1`` logits of a row at its positive, averaged over
  the two halves ``(ce[:B] + ce[B:]) / 2`` — equal to the mean over all ``2B`` rows;
- optional "effective batch size" reweighting (Song & Ermon's ML-CPC; code default
  ``effective_batch_size = len(train set)``, off for Banana): ``−log((2N_eff − 2)/(2B − 2))`` is
  added to every positive logit, **before** the division by ``T`` in the authors' code (a quirk:
  ``reweight_before_temperature=True``); ``False`` adds it after the division.

Loss weighting: paper ``rate + β · distortion``; App. E / code ``distortion / 0.003 + λ · rate``
(BINCE's ``factor_beta = 0.003``, i.e. the InfoNCE term weighted ×333). β values are only
comparable for a fixed distortion factor and temperature setup.

Sharding. The function is written for one device on the **global** batch. Under ``jax.jit`` with
``z1, z2`` sharded along the batch over a ``Mesh`` (``NamedSharding(mesh, P("data"))``), XLA
inserts the all-gathers needed for the ``2B × 2B`` similarity matrix, so negatives from all devices
are used and the value equals the single-device loss (tested on 8 CPU devices). No collectives or
pmap axis names appear here.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = [
    "DEFAULT_INIT_TEMPERATURE",
    "DEFAULT_MIN_TEMPERATURE",
    "init_logit_scale",
    "temperature_from_logit_scale",
    "nt_xent",
    "bince_distortion",
]

DEFAULT_INIT_TEMPERATURE = 0.07
DEFAULT_MIN_TEMPERATURE = 0.01


def init_logit_scale(temperature: float = DEFAULT_INIT_TEMPERATURE) -> jax.Array:
  """``log(1 / temperature)`` as a float32 scalar: the trainable parameter (as in CLIP and the authors' code)."""
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  return jnp.asarray(math.log(1.0 / temperature), jnp.float32)


def temperature_from_logit_scale(
    logit_scale: jax.Array, min_temperature: float = DEFAULT_MIN_TEMPERATURE
) -> jax.Array:
  """``T = 1 / min(exp(logit_scale), 1/min_temperature)`` (gradient is zero while clamped)."""
  return 1.0 / jnp.minimum(jnp.exp(logit_scale), 1.0 / min_temperature)


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  # max(‖x‖, eps) like torch.nn.functional.normalize.
  norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True))
  return x / jnp.maximum(norm, eps)


def nt_xent(
    z1: jax.Array,
    z2: jax.Array,
    logit_scale: jax.Array | float | None = None,
    *,
    temperature: float | None = None,
    min_temperature: float = DEFAULT_MIN_TEMPERATURE,
    cosine: bool = True,
    effective_batch_size: int | None = None,
    reweight_before_temperature: bool = True,
) -> tuple[jax.Array, dict]:
  """NT-Xent / InfoNCE loss in nats over the ``2B − 2`` in-batch negatives of the global batch.

  Args:
    z1, z2: ``(B, d)`` (projected) codes of the two augmentations; row ``i`` of ``z1`` and row
      ``i`` of ``z2`` come from the same example.
    logit_scale: trainable scalar (``init_logit_scale()``); the temperature is
      ``temperature_from_logit_scale(logit_scale, min_temperature)``.
    temperature: a fixed temperature instead of ``logit_scale`` (exactly one must be given).
    cosine: L2-normalise before the dot product (cosine similarity, "recommended").
    effective_batch_size: ``N_eff`` for the ML-CPC reweighting, or ``None`` (off).
    reweight_before_temperature: see module docstring.

  Returns:
    ``(loss_nats, metrics)``; metrics: ``infonce_nats``, ``infonce_accuracy`` (fraction of rows
    whose largest logit is the positive), ``temperature``, ``infonce_mi_lower_bound_nats``
    (``log(2B − 1) − loss``, the InfoNCE bound without reweighting).
  """
  if z1.ndim != 2 or z1.shape != z2.shape:
    raise ValueError(f"z1 and z2 must both be (B, d) with equal shapes, got {z1.shape} and {z2.shape}")
  if (logit_scale is None) == (temperature is None):
    raise ValueError("give exactly one of logit_scale (learnable) or temperature (fixed)")
  b = z1.shape[0]
  if b < 2:
    raise ValueError(f"NT-Xent needs a batch of at least 2 examples, got B={b}")
  n = 2 * b

  if temperature is not None:
    if temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {temperature}")
    t = jnp.asarray(temperature, jnp.float32)
  else:
    t = temperature_from_logit_scale(jnp.asarray(logit_scale, jnp.float32), min_temperature)

  h = jnp.concatenate([z1, z2], axis=0).astype(jnp.float32)
  if cosine:
    h = _l2_normalize(h)
  # Full float32 precision: TF32 matmuls on GPUs would perturb logits by ~1e-3/T.
  sim = jnp.matmul(h, h.T, precision=jax.lax.Precision.HIGHEST)  # (2B, 2B)

  rows = jnp.arange(n)
  pos = (rows + b) % n  # partner view; equals the code's i+B-1 / i-B after dropping the diagonal
  is_pos = rows[None, :] == pos[:, None]
  is_self = rows[None, :] == rows[:, None]

  logits = sim
  if effective_batch_size is not None:
    if effective_batch_size < b:
      raise ValueError(
          f"effective_batch_size={effective_batch_size} must be >= the batch size B={b}"
      )
    shift = -math.log((2 * effective_batch_size - 2) / (n - 2)) if n > 2 else 0.0
    if reweight_before_temperature:
      logits = jnp.where(is_pos, logits + shift, logits) / t
    else:
      logits = jnp.where(is_pos, logits / t + shift, logits / t)
  else:
    logits = logits / t
  logits = jnp.where(is_self, -jnp.inf, logits)

  lse = jax.nn.logsumexp(logits, axis=-1)
  pos_logit = jnp.take_along_axis(logits, pos[:, None], axis=-1)[:, 0]
  ce = lse - pos_logit  # (2B,)
  per_example = (ce[:b] + ce[b:]) / 2.0
  loss = jnp.mean(per_example)

  accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == pos).astype(jnp.float32))
  metrics = {
      "infonce_nats": loss,
      "infonce_accuracy": accuracy,
      "temperature": t,
      "infonce_mi_lower_bound_nats": math.log(n - 1) - loss,
  }
  return loss, metrics


def bince_distortion(
    z1: jax.Array,
    z2: jax.Array,
    logit_scale: jax.Array | float | None = None,
    **kwargs,
) -> tuple[jax.Array, dict]:
  """BINCE distortion, Eq. (9) / Eq. (100), Alg. 3: ``E[−log softmax_{Z'∈Ž} f_ψ(Ž', Z) at Ž⁺]``
  on the two views' (entropy-bottlenecked, projected) codes. Same as ``nt_xent``.

  Full objective: paper ``rate + β · distortion``; code ``distortion / 0.003 + λ · rate``
  (``losses.invariant.lagrangian(..., distortion_factor=0.003)``).
  """
  return nt_xent(z1, z2, logit_scale, **kwargs)
