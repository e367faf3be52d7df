"""WGAN-GP pretraining of NERD's image generator (Gulrajani et al. 2017; the NERD authors' README and `wgan_gp.py`).

The authors initialise G_θ of every slope β̃ on image data from a WGAN-GP generator; a finished
run of this method is what `nerd` loads with `config.model.generator_workdir`. The generator is
the one `nerd` builds from the same `config.model` (DCGAN, latent 128, width c_d), the critic
`nets.generators.DCGANCritic`.

One loop step = `loss.n_critic` critic updates, then one generator update (the authors' n_critic = 5):
the loop's batch of n_critic × B real images is split into n_critic critic batches of B. Only the
generator is the loop's parameters (its optimizer: Adam(1e-4, 0.5, 0.999)); the critic's
parameters and its Adam state (`loss.critic_lr`, same betas) are model state, updated inside
`loss` with the generator held constant. Losses: `losses.wgan_gp` (critic loss with the gradient
penalty λ = `loss.gp_weight` on interpolates; generator loss −E f(G(z))).

`evaluate` and `report` give the critic's estimate of W₁ between the split and as many generated
images (`wasserstein`, also `loss`); the report draws up to 64 samples to `samples.png`.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lossyless_jax import config as config_lib
from lossyless_jax.config import NON_NEGATIVE, POSITIVE, POSITIVE_INT
from lossyless_jax import data as data_lib
from lossyless_jax import methods, parallel
from lossyless_jax.losses import wgan_gp
from lossyless_jax.methods import nerd
from lossyless_jax.nets import generators

_CRITIC_KEYS = ("critic", "critic_opt")  # model-state entries that are not the generator's
# The critic's settings (n_critic critic steps per generator step, λ_GP, its Adam learning rate).
LOSS = dict(n_critic=5, gp_weight=float(wgan_gp.GP_WEIGHT), critic_lr=1e-4)
LOSS_CHECKS = dict(n_critic=POSITIVE_INT, gp_weight=NON_NEGATIVE, critic_lr=POSITIVE)


def base_config():
  """The NERD authors' WGAN-GP settings (their `wgan_gp.py`): critic batches of 64, n_critic = 5, λ_GP = 10,
  Adam(1e-4, β = (0.5, 0.999)) for both networks; the image config sets data, generator and steps."""
  c = config_lib.base_config()
  c.method = "wgan_gp"
  c.log_every = 100
  c.eval_every = 5000
  c.checkpoint.every = 1000
  c.report_on = "last"  # the critic changes along training: its W₁ estimates are not comparable
  c.loss = ml_collections.ConfigDict(LOSS)
  c.data.batch_size = 64 * c.loss.n_critic  # n_critic critic batches of 64 per step
  c.data.eval_batch_size = 1000
  c.optim.name = "adam"
  c.optim.lr.value = 1e-4
  c.optim.b1 = 0.5
  return c


def validate(config) -> None:
  """Raises ConfigError for an unknown, ill-typed or out-of-range `model`/`loss` field: the generator's
  as `nerd.validate`, `model.critic_channels`, the critic's n_critic, λ_GP and learning rate (Gulrajani et al. Alg. 1)."""
  model = nerd._section(dict(nerd.MODEL, critic_channels=32))
  config_lib.check_section(config.model, model, "model")
  config_lib.check_section(config.loss, ml_collections.ConfigDict(LOSS), "loss")
  config_lib.check_fields(config.model, dict(nerd.MODEL_CHECKS, critic_channels=POSITIVE_INT), "model")
  config_lib.check_fields(config.loss, LOSS_CHECKS, "loss")
  n_critic = int(config.loss.get("n_critic", LOSS["n_critic"]))
  if config.data.batch_size % n_critic:
    raise config_lib.ConfigError(f"config.data.batch_size: {config.data.batch_size}; expected a multiple of "
                                 f"config.loss.n_critic = {n_critic} (n_critic critic batches per step)")


def _critic(config):
  return generators.DCGANCritic(channels=int(config.model.get("critic_channels", config.model.channels)))


def _critic_tx(config):
  return optax.adam(float(config.loss.get("critic_lr", 1e-4)), b1=float(config.optim.b1), b2=float(config.optim.b2))


def _generator(config, x):
  return nerd.generator_module(config, x[0].reshape(-1))


def init(rng, batch, config):
  x = jnp.asarray(batch["image"][:2])
  kg, kc = jax.random.split(rng)
  variables = dict(methods.jit_once(_generator(config, x).init, kg, jnp.zeros((2, int(config.model.latent_dim)))))
  critic_params = methods.jit_once(_critic(config).init, kc, x)["params"]
  params = variables.pop("params")
  return params, {**variables, "critic": critic_params, "critic_opt": _critic_tx(config).init(critic_params)}


def loss(params, model_state, batch, rng, ctx):
  """n_critic critic steps on eq. (3) of Gulrajani et al. (fakes constant), then −E f(G(z)) for the generator."""
  config = ctx.config
  x = batch["image"]
  n_critic = int(config.loss.get("n_critic", 5))
  if x.shape[0] % n_critic:
    raise ValueError(f"config.data.batch_size: {x.shape[0]} is not a multiple of config.loss.n_critic = {n_critic}")
  real = x.reshape((n_critic, x.shape[0] // n_critic) + x.shape[1:])
  gen, critic, tx = _generator(config, x), _critic(config), _critic_tx(config)
  latent, weight = int(config.model.latent_dim), float(config.loss.get("gp_weight", wgan_gp.GP_WEIGHT))
  fixed_gen = jax.lax.stop_gradient(params)

  def fakes(p, state, key):
    y, state = nerd.generate(gen, p, state, jax.random.normal(key, (real.shape[1], latent)))
    return y.reshape(real.shape[1:]), state

  def critic_step(carry, inputs):
    critic_params, opt_state, gen_state = carry
    xr, key = inputs
    kz, kgp = jax.random.split(key)
    fake, gen_state = fakes(fixed_gen, gen_state, kz)
    score = lambda p: lambda images: critic.apply({"params": p}, images)
    (value, m), grads = jax.value_and_grad(
        lambda p: wgan_gp.critic_loss(score(p), xr, fake, kgp, weight), has_aux=True)(critic_params)
    updates, opt_state = tx.update(grads, opt_state, critic_params)
    return (optax.apply_updates(critic_params, updates), opt_state, gen_state), (value, m)

  gen_state = {k: v for k, v in model_state.items() if k not in _CRITIC_KEYS}
  keys = jax.random.split(rng, n_critic + 1)
  (critic_params, opt_state, gen_state), (critic_losses, m) = jax.lax.scan(
      critic_step, (model_state["critic"], model_state["critic_opt"], gen_state), (real, keys[:-1]))
  fake, gen_state = fakes(params, gen_state, keys[-1])
  g_loss = wgan_gp.generator_loss(critic.apply({"params": jax.lax.stop_gradient(critic_params)}, fake))
  metrics = {"critic_loss": jnp.mean(critic_losses), "wasserstein": jnp.mean(m["wasserstein"]),
             "gradient_penalty": jnp.mean(m["gradient_penalty"])}
  return g_loss, (metrics, {**gen_state, "critic": critic_params, "critic_opt": opt_state})


@functools.partial(jax.jit, static_argnums=(0,))
def _score(critic, critic_params, images):
  return critic.apply({"params": critic_params}, images)


def _wasserstein(config, params, model_state, images):
  """The critic's W₁ estimate mean f(x) − mean f(G(z)) on `images` and as many generated ones, and
  the first generated chunk."""
  host_state = parallel.to_host(model_state)
  gen, critic, latent = _generator(config, images), _critic(config), int(config.model.latent_dim)
  variables = {"params": parallel.to_host(params), **{k: v for k, v in host_state.items() if k not in _CRITIC_KEYS}}
  chunk = int(config.data.eval_batch_size)
  key = jax.random.PRNGKey(config.seed + 1)
  real, fake, first = [], [], None
  for c, start in enumerate(range(0, len(images), chunk)):
    xb = jnp.asarray(images[start:start + chunk])
    y = nerd.sample(gen, variables, latent, jax.random.fold_in(key, c), xb.shape[0]).reshape(xb.shape)
    first = y if first is None else first
    real.append(np.asarray(_score(critic, host_state["critic"], xb)))
    fake.append(np.asarray(_score(critic, host_state["critic"], y)))
  return float(np.concatenate(real).mean() - np.concatenate(fake).mean()), np.asarray(first)


def evaluate(params, model_state, batches, ctx):
  host = [parallel.to_host(b) for b in batches]
  images = np.concatenate([b["image"][b["mask"] > 0] for b in host])
  w = _wasserstein(ctx.config, params, model_state, images)[0]
  return {"wasserstein": w, "loss": w}


def _save_samples(path, images):
  from matplotlib import image  # no pyplot (see lossyless_jax.plotting)
  side = int(np.sqrt(len(images)))
  h, w, c = images.shape[1:]
  grid = images[:side * side].reshape(side, side, h, w, c).transpose(0, 2, 1, 3, 4).reshape(side * h, side * w, c)
  image.imsave(path, grid[..., 0] if c == 1 else grid, cmap="gray", vmin=0.0, vmax=1.0)


def report(params, model_state, ctx):
  config = ctx.config
  images = data_lib.load_arrays(config.data, config.eval_splits[0])["image"]
  w, samples = _wasserstein(config, params, model_state, images)
  if jax.process_index() == 0:
    _save_samples(os.path.join(ctx.workdir, "samples.png"), samples[:64])
  return {"wasserstein": w, "num_generator_params": int(sum(np.size(a) for a in jax.tree_util.tree_leaves(params))),
          "generator_workdir": os.path.abspath(ctx.workdir)}


METHOD = methods.register(methods.Method("wgan_gp", init, loss, evaluate, report, validate=validate))
