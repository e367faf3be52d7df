"""A small contrastive method used by the loop's tests (the loop is generic over methods).

A linear encoder of the flattened image; two views differ by keyed Gaussian noise; the loss
is NT-Xent with in-batch negatives, so every example's loss depends on the whole global batch
(the case where a wrong sharding would change the result).
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lossyless_jax import config as config_lib
from lossyless_jax import methods, parallel


def embed(params, x):
  z = x.reshape(x.shape[0], -1) @ params["w"] + params["b"]
  return z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-6)


def nt_xent(za, zb, mask, temperature):
  """NT-Xent over 2B-2 negatives; padded examples (mask 0) are neither anchors nor negatives."""
  z = jnp.concatenate([za, zb])
  m = jnp.concatenate([mask, mask])
  n = za.shape[0]
  logits = z @ z.T / temperature
  logits = jnp.where(jnp.eye(2 * n, dtype=bool) | (m[None, :] == 0), -1e9, logits)
  positive = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
  per_example = jax.nn.logsumexp(logits, axis=-1) - logits[jnp.arange(2 * n), positive]
  return jnp.sum(per_example * m) / jnp.sum(m)


def init(rng, batch, config):
  d = int(np.prod(batch["image"].shape[1:]))
  w = jax.random.normal(rng, (d, config.model.dim)) / np.sqrt(d)
  return {"w": w, "b": jnp.zeros(config.model.dim)}, {}


def loss(params, model_state, batch, rng, ctx):
  ka, kb = jax.random.split(rng)
  x = batch["image"]
  sigma = ctx.config.loss.noise
  za = embed(params, x + sigma * jax.random.normal(ka, x.shape))
  zb = embed(params, x + sigma * jax.random.normal(kb, x.shape))
  value = nt_xent(za, zb, jnp.ones(x.shape[0]), ctx.config.loss.temperature)
  weight = ctx.coefs.get("weight", 1.0)
  if ctx.config.loss.get("nan_from_step", -1) >= 0:  # for the non-finite guard's test
    value = jnp.where(ctx.step >= ctx.config.loss.nan_from_step, jnp.nan, value)
  return weight * value, ({"nt_xent": value}, model_state)


@jax.jit
def _eval_batch(params, x, mask):
  z = embed(params, x)
  return nt_xent(z, z, mask, 0.5), jnp.sum(mask)


def evaluate(params, model_state, batches, ctx):
  total, count = 0.0, 0.0
  for batch in batches:
    value, n = _eval_batch(params, batch["image"], batch["mask"])
    total, count = total + float(value) * float(n), count + float(n)
  return {"loss": total / count, "examples": count}


def report(params, model_state, ctx):
  w = parallel.to_host(params["w"])
  if ctx.config.model.get("save_params", False):  # every process writes what it holds
    np.save(f"{ctx.workdir}/params_w_process{jax.process_index()}.npy", w)
  return {"weight_norm": float(np.linalg.norm(w)), "process_count": jax.process_count()}


METHOD = methods.register(methods.Method("test_contrastive", init, loss, evaluate, report))


def get_config(**overrides) -> ml_collections.ConfigDict:
  c = config_lib.base_config()
  c.method = "test_contrastive"
  c.num_steps = 12
  c.log_every = 4
  c.eval_every = 6
  c.checkpoint.every = 3
  c.data.batch_size = 32
  c.data.eval_batch_size = 64
  c.monitor = "test/loss"
  c.optim.lr.value = 1e-2
  c.model.dim = 8
  c.loss.noise = 0.1
  c.loss.temperature = 0.5
  for k, v in overrides.items():
    target = c
    *path, last = k.split(".")
    for p in path:
      target = target[p]
    target[last] = v
  return c
