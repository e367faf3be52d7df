"""The training objectives of the invariant compressors, written once for training and evaluation.

``terms`` gives the per-example distortion and rate of one batch for every method:

* ``vic`` (Eq. 8): encode ``A(x)``, reconstruct the maximal invariant (the unaugmented ``x``, the
  Banana orbit representative, or with ``loss.equivalence='label'`` a fixed image of the label
  while the encoded image is a random training image of that label, Table 6 "supervised");
* ``vc``: the standard neural compressor, reconstruct the encoded input itself;
* ``bince`` (Eq. 9, Alg. 3): two views through the same bottleneck and projection head, NT-Xent
  over the 2B−2 in-batch negatives of the global batch (with ``equivalence='label'`` the positive
  is an augmented random training image of the same label);
* ``staggered`` (§2.6): a frozen encoder, L1 feature distortion ``‖z − ẑ‖₁``.

``loss`` is the Lagrangian ``distortion / loss.distortion_factor + λ·rate_nats`` (App. E) plus the
entropy models' quantile loss; ``evaluate`` averages the same terms on fixed keys, with the
quantized ẑ instead of the noisy z̃.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.data import augment as aug_lib
from lossyless_jax.entropy import rates
from lossyless_jax.losses import infonce, invariant
from lossyless_jax.methods.lossyless import defaults
from lossyless_jax.methods.lossyless import model as M


def _same_label_images(key, labels, config):
  pool, reps = M.label_pool(config)
  return aug_lib.sample_same_label(key, labels, pool), reps[labels]


def terms(params, model_state, batch, key, config, *, train: bool):
  """(distortion (B,) or a batch scalar for BINCE, rate (B,) in nats, metrics, new model state)."""
  kind = defaults.kind_of(config)
  x = batch[M.input_key(batch)]
  k_aug, k_noise, k_sup, k_aug2 = jax.random.split(key, 4)
  label_eq = config.loss.get("equivalence", "augment") == "label"
  new_state = dict(model_state)
  metrics = {}

  def encode_and_bottleneck(inputs):
    z, enc_stats = M.encode(params, model_state, inputs, config, train=train)
    if train and enc_stats is not None and "encoder" in model_state:
      new_state["encoder"] = enc_stats
    z_t, rate = M.bottleneck(params, z, train=train, rng=k_noise)
    return z, z_t, rate

  if kind in ("vic", "vc"):
    source, target = x, M.invariant_target(x, config)
    if label_eq:  # vic only (defaults.validate)
      source, target = _same_label_images(k_sup, batch["label"], config)
    x_in = M.augment_batch(k_aug, source, config)
    _, z_t, rate = encode_and_bottleneck(x_in)
    out, dec_stats = M.decode(params, model_state, z_t, config, x.shape[1:], train=train)
    if train and dec_stats is not None and "decoder" in model_state:
      new_state["decoder"] = dec_stats
    lik, reduce = M.likelihood(config, x), config.loss.get("reduce", "sum")
    if kind == "vic":
      dist, m = invariant.vic_distortion(out, target, lik, reduce)
    else:
      dist, m = invariant.vc_distortion(out, x_in, lik, reduce)
  elif kind == "bince":
    second = _same_label_images(k_sup, batch["label"], config)[0] if label_eq else x
    x1, x2 = M.augment_batch(k_aug, x, config), M.augment_batch(k_aug2, second, config)
    b = x.shape[0]
    _, z_t, rate = encode_and_bottleneck(jnp.concatenate([x1, x2]))
    h = M.make_head(config.model).apply({"params": params["head"]}, z_t)
    eff = int(config.loss.get("effective_batch_size", 0)) or None
    dist, m = infonce.bince_distortion(h[:b], h[b:], params["logit_scale"],
                                       min_temperature=float(config.loss.get("min_temperature", 0.01)),
                                       effective_batch_size=eff)
    rate = (rate[:b] + rate[b:]) / 2  # both views are coded: the rate per view
  else:  # staggered lossy-Z
    x_in = M.augment_batch(k_aug, x, config)
    z, z_t, rate = encode_and_bottleneck(x_in)
    dist, m = invariant.lossy_z_distortion(jax.lax.stop_gradient(z), z_t)
  metrics.update(m)
  return dist, rate, metrics, new_state


def loss(params, model_state, batch, rng, ctx):
  """The method's ``loss`` (see the module docstring)."""
  config = ctx.config
  dist, rate, metrics, new_state = terms(params, model_state, batch, rng, config, train=True)
  total, m = invariant.lagrangian(jnp.mean(dist), rate, lmbda=ctx.coefs.get("rate", 1.0),
                                  distortion_factor=defaults.distortion_factor(config))
  metrics.update(m)
  aux = M.aux_loss(params)
  metrics["aux_loss"] = aux
  metrics["rate_bits"] = rates.nats_to_bits(jnp.mean(rate))
  return total + aux, (metrics, new_state)


@functools.partial(jax.jit, static_argnums=(4,))
def _eval_batch(params, model_state, batch, key, config_json):
  config = M.config_from_json(config_json)
  dist, rate, _, _ = terms(params, model_state, batch, key, config, train=False)
  return rates.nats_to_bits(rate), jnp.broadcast_to(dist, rate.shape)


def evaluate(params, model_state, batches, ctx):
  """Estimated bits −log2 q(ẑ), distortion and Lagrangian on an eval split (fixed keys)."""
  cj = M.config_json(ctx.config)
  lmbda = float(ctx.config.coefs.rate.value) if "rate" in ctx.config.coefs else 1.0
  factor = defaults.distortion_factor(ctx.config)
  tot_r = tot_d = n = 0.0
  for i, batch in enumerate(batches):
    inputs = {k: v for k, v in batch.items() if k != "mask"}
    bits, dist = _eval_batch(params, model_state, inputs, jax.random.PRNGKey(10_007 + i), cj)
    mask = np.asarray(batch["mask"], np.float64)
    tot_r += float(np.sum(np.asarray(bits) * mask))
    tot_d += float(np.sum(np.asarray(dist) * mask))
    n += float(mask.sum())
  r, d = tot_r / n, tot_d / n
  return {"rate_bits": r, "distortion": d, "loss": d / factor + lmbda * r * np.log(2.0)}
