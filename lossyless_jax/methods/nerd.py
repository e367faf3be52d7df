"""NERD as a method of the loop: one run traces a rate–distortion curve (Lei et al., JSAIT 2023).

One generator G_θk per point of the curve (a slope β̃_k < 0 in Lagrangian mode, eq. (7); a target
distortion D_k in constrained mode, Algorithm 1), stacked along a leading axis. By default all are
trained together in one jitted step: each step draws M latents per generator, builds the (B, M)
distortion matrices against the shared data batch and minimises the sum of the duals
(`losses.nerd`). With `loss.warm_start` the points are trained one after the other instead, each
starting from the previous one (below). Evaluation and the report stream over a large M in chunks
(`nerd_readouts_chunked`), so memory is O(B · chunk).

Config (`model`, checked by `validate`): generator `fc` (latent → hidden → out; the authors'
`Decoder_FC`) or `dcgan` (images), `latent_dim`, `hidden`, `output_activation`,
`pre_activation_scale`, `channels`, `out_channels`; `generator_workdir` (a finished run, e.g.
`wgan_gp`, whose generator initialises every G_θk).
Config (`loss`, checked by `validate`): `mode` lagrangian | constrained; `betas` (β̃ < 0, nats per
unit distortion) or `targets` (D, per sample, summed over coordinates); `num_samples` (M_train per
training step); `distortion` (a name of `losses.distortions`, or `"lp"`: d_p(x, y) = ‖x − y‖_p² of
§IV-F with exponent `p` ≥ 1); `beta_min` (constrained search interval); `warm_start`;
`eval_num_samples` (M), `eval_chunk_size`, `eval_points`; `kmeans` (K values of the k-means
baseline, data sources); `rcc_num_candidates` (N of one-shot coding; 0 disables), `rcc_method`
(pfr | orc), `rcc_sources`, `rcc_sources_per_codebook` (sources sharing one codebook of N
candidates; the authors use 100).

Warm start (`loss.warm_start = True`): the authors' sweep (`NERDlagr_curve.py` of their released
code) trains one generator object over the list of slopes, so slope k starts from slope k − 1's
final generator, with a fresh Adam (a new Lightning module and trainer per slope). Here the K
points train in the order given, `num_steps // K` steps each (the last takes the remainder);
point k's generator starts as a copy of point k − 1's at the end of its phase and the finished
ones are frozen. The loop has one optimizer over all K generators, whose Adam moments for point k
are still zero when its phase starts but whose bias correction counts the global step; the
effective parameter update is rescaled so that point k follows exactly the trajectory of a fresh
`optax.adam` (up to Adam's ε). Differences from the authors: a learning-rate schedule other than
constant runs over the whole run, not per slope; `optim.name` must be adam or sgd and
`optim.accumulate_steps` 1.

The report (`report.json`, the same as `rd_curve.json`) holds, for every point, the lists `beta`
(the slope, or β̃* solved at the target in constrained mode), `D` (D̂), `R_bits` (R̂) and the
flags `near_eval_ceiling` (R̂ > log2 M − 1, M = `eval_num_samples`), `near_train_ceiling`
(R̂ > log2 M_train − 2, M_train = `num_samples`: the training objective saturates there) and
`near_ceiling` (either: the point is untrusted), with `M`, `log2_M`, `M_train`, `log2_M_train`;
`R_exact_bits` and `gap_bits` where the source has a closed form for the configured distortion
(Gaussian sources also get `qy_variance`: the per-component variance of G(z) in the source's
eigenbasis, largest σ² first, next to the reverse water-filling value `qy_variance_water_filling`
= max(σ_k² − λ, 0) at the water level λ of the point's D̂), else the checks of `curve_checks` on the
trusted points (monotone, convex, zero-rate limit, k-means points above the curve); `rd_curve.png`
shows it; with one-shot coding, `rcc_*` fields and the files.
"""
from __future__ import annotations

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from lossyless_jax import checkpoint
from lossyless_jax import config as config_lib
from lossyless_jax.config import NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, each, one_of, optional
from lossyless_jax import data as data_lib
from lossyless_jax import methods, parallel, plotting, progress
from lossyless_jax.data import rd_sources
from lossyless_jax.entropy import one_shot
from lossyless_jax.evaluation import theory
from lossyless_jax.losses import distortions, nerd
from lossyless_jax.nets import generators

# The method's own config sections with their defaults (base_config sets them; validate checks
# every run's config against them: an unknown or ill-typed field raises ConfigError).
MODEL = dict(generator="fc", latent_dim=100, hidden=None, output_activation=None, pre_activation_scale=1.0,
             channels=32, out_channels=1, generator_workdir="")
LOSS = dict(mode="lagrangian", betas=(), targets=(), num_samples=4000, distortion="squared_error",
            p=None, beta_min=-20.0, warm_start=False, eval_num_samples=40_000, eval_chunk_size=4000,
            eval_points=0, kmeans=(), rcc_num_candidates=0, rcc_method="pfr", rcc_sources=1000,
            rcc_sources_per_codebook=100)
GENERATORS = ("fc", "dcgan")
MODES = ("lagrangian", "constrained")
LP = "lp"  # config.loss.distortion of the §IV-F distortions ‖x − y‖_p², with config.loss.p
# What `validate` expects of each field (`p`, `distortion`, `betas`, `targets`: `_distortion_spec`, `_points`).
MODEL_CHECKS = dict(generator=one_of(*GENERATORS), latent_dim=POSITIVE_INT,
                    hidden=optional(each(POSITIVE_INT)),
                    output_activation=one_of(None, "none", "sigmoid"), pre_activation_scale=POSITIVE,
                    channels=POSITIVE_INT, out_channels=POSITIVE_INT)
LOSS_CHECKS = dict(mode=one_of(*MODES), beta_min=NEGATIVE, kmeans=each(POSITIVE_INT),
                   rcc_method=one_of(*one_shot.METHODS),
                   **dict.fromkeys(("num_samples", "eval_num_samples", "eval_chunk_size", "rcc_sources",
                                    "rcc_sources_per_codebook"), POSITIVE_INT),
                   **dict.fromkeys(("eval_points", "rcc_num_candidates"), NON_NEGATIVE_INT))


def _section(defaults) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  for key, value in defaults.items():
    c[key] = ml_collections.FieldReference(None, field_type=float) if key == "p" else value
  return c


def base_config():
  """The authors' NERD settings (their released code; the paper gives none) on the CPU budget of
  this package: B = 100, Adam(1e-3, β = (0.5, 0.999)), FC generator, Lagrangian mode, M_train =
  4,000 per step (the authors: 40,000), 3,000 steps, evaluation with M = 40,000 at the end."""
  c = config_lib.base_config()
  c.method = "nerd"
  c.num_steps = 3000
  c.log_every = 100
  c.eval_every = 3000  # evaluation streams M = 40,000 samples: only at the end
  c.checkpoint.every = 1000
  c.data.batch_size = 100  # B
  c.data.eval_batch_size = 1000
  c.data.options.eval_size = 5000  # held-out points of a synthetic source
  c.optim.name = "adam"
  c.optim.lr.value = 1e-3
  c.optim.b1 = 0.5  # the authors' Adam betas (0.5, 0.999)
  c.model = _section(MODEL)
  c.loss = _section(LOSS)  # M_train = 4,000 per step: estimates are capped at log2 M ≈ 12 bits
  return c


def _distortion_spec(config) -> tuple[str, float | None]:
  """(name, p) of the configured distortion, checked; p is None unless the distortion is ℓp²."""
  name = config.loss.get("distortion", "squared_error")
  p = config.loss.get("p", None)
  if not isinstance(name, str):
    raise config_lib.ConfigError(f"config.loss.distortion: {name!r}; expected a name")
  if name in (LP, "lp_squared"):
    if p is None:
      raise config_lib.ConfigError(f"config.loss.distortion={name!r} (‖x − y‖_p², paper §IV-F) needs the exponent "
                                   "config.loss.p, e.g. --config.loss.p=3")
    p = float(p)
    if not (math.isfinite(p) and p >= 1.0):
      raise config_lib.ConfigError(f"config.loss.p: {p}; the ℓp distortion ‖x − y‖_p² needs a finite p >= 1 "
                                   "(‖·‖_p is not a norm below 1; the paper uses p = 1, 2, 3)")
    return LP, p
  if p is not None:
    raise config_lib.ConfigError(f"config.loss.p: {p}; only the distortion {LP!r} reads an exponent "
                                 f"(config.loss.distortion is {name!r})")
  try:
    distortions.get_distortion(name)
  except ValueError as e:
    raise config_lib.ConfigError(f"config.loss.distortion: {e}; or {LP!r} with config.loss.p") from None
  return name, None


@functools.lru_cache(maxsize=None)
def _distortion_fn(name: str, p):
  # One function object per (name, p): the chunked read-outs and the coder cache their compiled
  # steps by it.
  if name == LP:
    return distortions.get_distortion("lp_squared", p=p)
  return distortions.get_distortion(name)


def distortion_fn(config):
  """The pairwise distortion (x (B, ...), y (M, ...)) -> (B, M) of `config.loss`."""
  return _distortion_fn(*_distortion_spec(config))


_CANONICAL = {"squared_error": "squared_error", "mse": "squared_error", "l2_squared": "squared_error",
              "squared_error_direct": "squared_error", "l1": "l1", "absolute_error": "l1",
              "hamming_relaxed": "hamming_relaxed", "hamming": "hamming_relaxed"}


def _canonical_distortion(config) -> str:
  name, p = _distortion_spec(config)
  if name == LP:
    return "squared_error" if p == 2.0 else f"lp{p:g}"
  return _CANONICAL.get(name, name)


def validate(config) -> None:
  """Raises ConfigError (a ValueError) for an unknown or ill-typed `model`/`loss` field or a bad value."""
  config_lib.check_section(config.model, _section(MODEL), "model")
  config_lib.check_section(config.loss, _section(LOSS), "loss")
  l = config.loss
  config_lib.check_fields(config.model, MODEL_CHECKS, "model")
  config_lib.check_fields(l, LOSS_CHECKS, "loss")
  _distortion_spec(config)
  num_points = len(_points(config)[1])
  if l.get("warm_start", False):
    if config.num_steps < num_points:
      raise config_lib.ConfigError(f"config.loss.warm_start: {config.num_steps} steps cannot train {num_points} "
                                   "points one after the other; raise config.num_steps")
    if config.optim.name not in ("adam", "sgd") or config.optim.accumulate_steps != 1 or len(config.optim.groups):
      raise config_lib.ConfigError(
          "config.loss.warm_start: needs config.optim.name 'adam' or 'sgd' (adamw would decay the generators "
          "waiting for their turn), config.optim.accumulate_steps = 1 and no config.optim.groups; got "
          f"{config.optim.name!r}, {config.optim.accumulate_steps}, {sorted(config.optim.groups.keys())}")


def _points(config):
  """(mode, values): the slopes or the target distortions, one per generator."""
  mode = config.loss.get("mode", "lagrangian")
  if mode == "lagrangian":
    values = tuple(float(b) for b in config.loss.betas)
    if not values or any(b >= 0 for b in values):
      raise config_lib.ConfigError(f"config.loss.betas: {values}; Lagrangian NERD needs slopes β̃ < 0")
  elif mode == "constrained":
    values = tuple(float(d) for d in config.loss.targets)
    if not values or any(d <= 0 for d in values):
      raise config_lib.ConfigError(f"config.loss.targets: {values}; constrained NERD needs target distortions D > 0")
  else:
    raise config_lib.ConfigError(f"config.loss.mode: {mode!r}; expected 'lagrangian' or 'constrained'")
  return mode, values


def _flat(batch):
  x = batch["x"] if "x" in batch else batch["image"]
  return x.reshape(x.shape[0], -1)


def generator_module(config, example):
  """The generator for data shaped like `example` (one flattened data point)."""
  m = config.model
  kind = m.get("generator", "fc")
  if kind == "fc":
    hidden = m.get("hidden", None)
    return generators.FCGenerator(out_dim=int(example.shape[-1]), hidden=tuple(hidden) if hidden else None,
                                  output_activation=m.get("output_activation", None),
                                  pre_activation_scale=float(m.get("pre_activation_scale", 1.0)))
  if kind == "dcgan":
    side = int(config.data.image_size) or 32
    return generators.DCGANGenerator(channels=int(m.get("channels", 32)), out_channels=int(m.get("out_channels", 1)),
                                     image_size=side)
  raise ValueError(f"config.model.generator: {kind!r}; expected 'fc' or 'dcgan'")


# TFDS image datasets of the paper (§IV-B) -> (channels, train images); images at 32×32 in [0, 1].
IMAGE_DATASETS = {"mnist": (1, 60_000), "fashion_mnist": (1, 60_000), "svhn_cropped": (3, 73_257)}


def image_config(c, arg: str, config_file: str) -> tuple[bool, int]:
  """Sets the image data and the DCGAN generator of §IV-B and App. C-A on config `c`; returns
  (mock, number of training images).

  `arg`: '' (TFDS mnist), 'fashion_mnist', 'svhn_cropped', or 'mock' (mnist on `tfds.testing.mock_data`
  with a tiny generator: c_d = 4, latent 16). Images are resized (bilinear, as the authors' `Resize(32)`)
  to 32×32 in [0, 1]; the generator has latent m_z = 128 and width c_d = 32.
  """
  config_lib.check_arg(arg, ("", *(n for n in IMAGE_DATASETS if n != "mnist"), "mock"), config_file)
  mock = arg == "mock"
  dataset = "mnist" if arg in ("", "mock") else arg
  c.data.name = f"tfds:{dataset}"
  c.data.image_size = 32
  c.model.generator = "dcgan"
  c.model.latent_dim = 16 if mock else 128  # m_z
  c.model.channels = 4 if mock else 32  # c_d
  c.model.out_channels = IMAGE_DATASETS[dataset][0]
  return mock, IMAGE_DATASETS[dataset][1]


def load_generator(workdir: str, config, example):
  """(params, non-trainable collections) of the generator of the finished run in `workdir` (e.g. a
  `wgan_gp` pretraining), from its last Orbax checkpoint; they must match the generator `config` builds."""
  if not os.path.isdir(os.path.join(workdir, "checkpoints", "latest")):
    raise FileNotFoundError(f"config.model.generator_workdir: {workdir!r} holds no checkpoints/latest; pretrain the "
                            f"generator first (python launch/main.py --config=configs/wgan_gp_mnist.py --workdir={workdir})")
  ckpt = checkpoint.Checkpointer(workdir, keep=1, keep_best=1)
  try:
    restored = ckpt.restore_latest(None)
  finally:
    ckpt.close()
  if restored is None:
    raise FileNotFoundError(f"config.model.generator_workdir: {workdir!r} has no complete checkpoint")
  state = restored[0]
  module = generator_module(config, example)
  fresh = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((2, int(config.model.latent_dim))))
  loaded = {"params": state["params"], **{k: state["model_state"].get(k) for k in fresh if k != "params"}}
  shapes = lambda tree: {"/".join(k): tuple(np.shape(v)) for k, v in traverse_util.flatten_dict(tree).items()}
  want, got = shapes(fresh), shapes({k: v for k, v in loaded.items() if v is not None})
  if want != got:
    diff = sorted((k for k in set(want) | set(got) if want.get(k) != got.get(k)), key=lambda k: (k[:6] != "params", k))
    raise ValueError(f"config.model.generator_workdir: the generator in {workdir!r} does not match config.model "
                     f"(generator, latent_dim, channels, out_channels, hidden) and config.data.image_size: "
                     + "; ".join(f"{k}: pretrained {got.get(k)}, expected {want.get(k)}" for k in diff[:4]))
  loaded = jax.tree_util.tree_map(jnp.asarray, loaded)
  return loaded.pop("params"), loaded


def generate(module, params, state, z):
  """G(z) flattened to (M, dim), and the generator's new batch statistics (batch-stat BatchNorm)."""
  variables = {"params": params, **state}
  if state:
    y, new_state = module.apply(variables, z, train=True, mutable=list(state))
  else:
    y, new_state = module.apply(variables, z), state
  return y.reshape(y.shape[0], -1), new_state


# ------------------------------------------------------------------------------------------------
# Warm start: the points train one after the other (see the module docstring).
# ------------------------------------------------------------------------------------------------

WARM = "warm_start"  # model-state entry: {"anchor", "prev", "step"}


def _warm(config) -> bool:
  return bool(config.loss.get("warm_start", False))


def steps_per_point(config) -> int:
  """Steps of each point's phase with `loss.warm_start` (the last phase also takes the remainder)."""
  return max(int(config.num_steps) // len(_points(config)[1]), 1)


def warm_phase(config, step):
  """Index of the point trained at loop step `step` (0-based) with `loss.warm_start`."""
  return jnp.minimum(jnp.asarray(step) // steps_per_point(config), len(_points(config)[1]) - 1)


def _fresh_adam_factor(config, step, start):
  """Step of a fresh Adam / step of the loop's Adam for the update at loop step `step` of parameters
  whose first non-zero gradient came at loop step `start`, their moments zero until then.

  Both optimizers hold the same moments m, v; they differ only in the bias correction: optax's
  count is the global step + 1, a fresh one's the local step + 1 (n). Without ε the ratio of their
  updates m / (1 − b1^n) / sqrt(v / (1 − b2^n)) is exact. SGD (with or without momentum) has no
  bias correction: 1.
  """
  if config.optim.name != "adam":
    return jnp.float32(1.0)
  b1, b2 = float(config.optim.b1), float(config.optim.b2)
  count = jnp.asarray(step + 1, jnp.float32)
  local = jnp.asarray(step - start + 1, jnp.float32)
  return ((1.0 - b1 ** count) / (1.0 - b1 ** local) * jnp.sqrt((1.0 - b2 ** local) / (1.0 - b2 ** count)))


def _at(tree, k):
  return jax.tree_util.tree_map(lambda a: a[k], tree)


def _set(tree, k, value, where=True):
  """`tree` with entry k of every leaf replaced by `value`'s leaf (where `where`)."""
  return jax.tree_util.tree_map(lambda a, v: jnp.where(where, a.at[k].set(v), a), tree, value)


def _warm_advance(config, params, gen_state, warm, step):
  """(anchors, generator state, point) at loop step `step`, one step after `warm["step"]`.

  `anchors[k]` are the effective parameters of point k. The point trained at the previous step
  takes its last update, rescaled to a fresh Adam's; if `step` starts a new phase, the new point
  becomes a copy of the previous one (parameters and batch statistics). Points of finished phases
  keep their anchors (their raw parameters may still drift on Adam's momentum: not used).
  """
  per = steps_per_point(config)
  last = jnp.asarray(warm["step"])
  q = warm_phase(config, jnp.maximum(last, 0))
  p = warm_phase(config, step)
  rho = jnp.where(last >= 0, _fresh_adam_factor(config, last, q * per), 0.0)
  moved = jax.tree_util.tree_map(lambda a, new, old: a[q] + (rho * (new[q] - old[q])).astype(a.dtype),
                                 warm["anchor"], params, warm["prev"])
  anchors = _set(warm["anchor"], q, moved)
  switch = (last >= 0) & (p != q)
  anchors = _set(anchors, p, _at(anchors, q), switch)
  gen_state = _set(gen_state, p, _at(gen_state, q), switch)
  return anchors, gen_state, p


def effective_params(config, params, model_state):
  """(parameters, generator state) each point's generator has now, K-stacked; with
  `loss.warm_start` these are the anchors after the last update, else `params` as they are."""
  gen_state = {k: v for k, v in model_state.items() if k != WARM}
  if WARM not in model_state:
    return params, gen_state
  params, gen_state, warm = jax.tree_util.tree_map(jnp.asarray, (params, gen_state, model_state[WARM]))
  anchors, gen_state, _ = _warm_advance(config, params, gen_state, warm, warm["step"] + 1)
  return anchors, gen_state


def init(rng, batch, config):
  _, values = _points(config)
  x = _flat(batch)
  module = generator_module(config, x[0])
  workdir = config.model.get("generator_workdir", "")
  if workdir:  # every generator starts from the pretrained one (the authors' WGAN-GP init, their README)
    params, state = load_generator(workdir, config, x[0])
    params, state = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (len(values),) + a.shape), (params, state))
  else:
    z = jnp.zeros((2, int(config.model.latent_dim)))
    variables = methods.jit_once(jax.vmap(lambda key: module.init(key, z)), jax.random.split(rng, len(values)))
    params = variables.pop("params")
    state = dict(variables)
  if _warm(config):
    state = {**state, WARM: {"anchor": params, "prev": params, "step": jnp.array(-1, jnp.int32)}}
  return params, state


def _point_loss(config, mode, dmat, value):
  if mode == "lagrangian":
    return nerd.nerd_lagrangian_loss(dmat, value)
  beta_min = float(config.loss.get("beta_min", -20.0))
  return nerd.nerd_constrained_loss(dmat, value, beta_min=beta_min)


def loss(params, model_state, batch, rng, ctx):
  """Σ_k of the NERD dual of generator k (eq. (7) Lagrangian, or eq. (11) at the solved β̃*_k); with
  `loss.warm_start` the dual of the one point whose phase this step is."""
  config = ctx.config
  mode, values = _points(config)
  x = _flat(batch)
  module = generator_module(config, x[0])
  num_samples = int(config.loss.num_samples)
  latent = int(config.model.latent_dim)
  distortion = distortion_fn(config)
  point = jnp.asarray(values, jnp.float32)
  if _warm(config):
    gen_state = {k: v for k, v in model_state.items() if k != WARM}
    # The anchors are constants of this step (no gradient through the last update they absorb).
    anchors, gen_state, p = _warm_advance(config, jax.lax.stop_gradient(params), gen_state, model_state[WARM],
                                          ctx.step)
    # Value: the anchor; gradient: with respect to the raw parameters of point p.
    eff = jax.tree_util.tree_map(lambda a, w: a[p] + (w[p] - jax.lax.stop_gradient(w[p])), anchors, params)
    z = jax.random.normal(rng, (num_samples, latent))
    y, new_p = generate(module, eff, _at(gen_state, p), z)
    value, readouts = _point_loss(config, mode, distortion(x, y), point[p])
    metrics = {"R_bits": readouts["rate_bits"], "D": readouts["d_hat"], "point": p.astype(jnp.float32)}
    if mode == "constrained":
      metrics["beta"] = readouts["beta"]
    new_state = {**_set(gen_state, p, new_p),
                 WARM: {"anchor": anchors, "prev": jax.lax.stop_gradient(params),
                        "step": jnp.asarray(ctx.step, jnp.int32)}}
    return value, (metrics, new_state)
  # One draw of M latents serves every generator (common random numbers: each generator's loss
  # sees M fresh N(0, I) latents, as before; drawing them once is K× less sampling).
  z = jax.random.normal(rng, (num_samples, latent))
  ys, new_state = jax.vmap(lambda p, s: generate(module, p, s, z))(params, model_state)
  # One (B, K·M) matrix against every generator's samples, read as (B, K, M): no per-generator
  # products and no transpose of the K matrices.
  k, m = ys.shape[0], ys.shape[1]
  dmats = distortion(x, ys.reshape(k * m, -1)).reshape(x.shape[0], k, m)
  if mode == "lagrangian":  # every slope at once on the stack
    losses, readouts = nerd.nerd_lagrangian_loss(dmats, point.astype(dmats.dtype))
  else:
    losses, readouts = jax.vmap(lambda d, v: _point_loss(config, mode, d, v), in_axes=(1, 0))(
        dmats, point.astype(dmats.dtype))
  metrics = {}
  for k in range(len(values)):
    metrics[f"R_bits/{k}"] = readouts["rate_bits"][k]
    metrics[f"D/{k}"] = readouts["d_hat"][k]
    if mode == "constrained":
      metrics[f"beta/{k}"] = readouts["beta"][k]
  return jnp.sum(losses), (metrics, new_state)


@functools.partial(jax.jit, static_argnums=(0, 2, 4))
def sample(module, variables, latent_dim, key, num):
  """G(z) of `num` latents drawn with `key`, flattened, batch-stat BatchNorm (the authors'); the variables
  are arguments, so every generator of one shape shares one compilation."""
  return generators.make_sample_fn(module, variables, latent_dim, train_bn=True, flatten=True)(key, num)


def _sample_fns(config, params, model_state, example):
  """`sample_fn(key, num)` of each generator (already compiled: pass `jit_sampler=False`)."""
  module = generator_module(config, example)
  latent = int(config.model.latent_dim)
  host_params, host_state = parallel.to_host(params), parallel.to_host(model_state)
  host_params, host_state = effective_params(config, host_params, host_state)
  fns = []
  for k in range(len(_points(config)[1])):
    variables = {"params": _at(host_params, k), **_at(host_state, k)}
    fns.append(functools.partial(sample, module, variables, latent))
  return fns


def readouts(config, params, model_state, x) -> list[dict]:
  """Chunked read-outs (D̂, R̂, …) of every generator on data `x` with M = `loss.eval_num_samples`."""
  mode, values = _points(config)
  num = int(config.loss.get("eval_num_samples", 40_000))
  kwargs = dict(chunk_size=int(config.loss.get("eval_chunk_size", 4000)), distortion=distortion_fn(config),
                jit_sampler=False)
  key = jax.random.PRNGKey(config.seed + 1)
  out = []
  fns = progress.phase("NERD R(D) readouts", _sample_fns(config, params, model_state, x[0]),
                       unit="slopes" if mode == "lagrangian" else "targets")
  for k, sample_fn in enumerate(fns):
    if mode == "lagrangian":
      out.append(nerd.nerd_readouts_chunked(x, sample_fn, key, values[k], num, **kwargs))
    else:
      out.append(nerd.solve_beta_chunked(x, sample_fn, key, values[k], num,
                                         beta_min=float(config.loss.get("beta_min", -20.0)), **kwargs))
  return out


def _ceilings(config, rate_bits) -> dict:
  """`nerd.ceiling_flags` against M = `loss.eval_num_samples` and M_train = `loss.num_samples`."""
  return nerd.ceiling_flags(rate_bits, int(config.loss.get("eval_num_samples", 40_000)),
                            int(config.loss.get("num_samples", 4000)))


def _rd_source(config):
  if config.data.name not in rd_sources.SOURCE_NAMES:
    return None
  options = {k: v for k, v in config.data.options.items() if k != "eval_size"}
  return rd_sources.get_source(config.data.name, **options)


def closed_form_bits(config):
  """D -> R(D) in bits for the closed-form sources of `rd_sources` under their own distortion, else
  None (e.g. a Gaussian under the ℓp distortions of §IV-F with p ≠ 2, which have no closed form)."""
  src = _rd_source(config)
  if src is None or _canonical_distortion(config) != _CANONICAL.get(src.distortion, src.distortion):
    return None
  if src.kind == "gaussian":
    return lambda d: theory.gaussian_rd(d, src.variances)
  if src.kind == "laplace":
    return lambda d: src.dim * theory.laplace_l1_rd(d / src.dim, src.alpha)
  return lambda d: src.dim * theory.bernoulli_hamming_rd(d / src.dim, src.p)


def _eval_data(batches, limit):
  xs = []
  for batch in batches:
    host = parallel.to_host(batch)
    xs.append(_flat(host)[host["mask"] > 0])
  x = np.concatenate(xs)
  return x[:limit] if limit else x


def evaluate(params, model_state, batches, ctx):
  config = ctx.config
  x = _eval_data(batches, int(config.loss.get("eval_points", 0)))
  exact = closed_form_bits(config)
  metrics, total = {}, 0.0
  for k, r in enumerate(readouts(config, params, model_state, x)):
    total += r["neg_log_mgf"] if config.loss.get("mode", "lagrangian") == "lagrangian" else r["rate_bits"]
    metrics[f"R_bits/{k}"], metrics[f"D/{k}"] = r["rate_bits"], r["d_hat"]
    metrics[f"near_ceiling/{k}"] = float(_ceilings(config, r["rate_bits"])["near_ceiling"])
    if exact is not None:
      metrics[f"gap_bits/{k}"] = r["rate_bits"] - float(exact(r["d_hat"]))
  metrics["loss"] = total
  return metrics


def _pairwise_min(dist, x, centers, rows: int = 4096):
  """min_j d(x_i, c_j) for every row of x (in row blocks)."""
  return np.concatenate([np.asarray(jnp.min(dist(jnp.asarray(x[s:s + rows]), jnp.asarray(centers)), axis=1))
                         for s in range(0, len(x), rows)]).astype(np.float64)


def _zero_rate_distortion(config, x) -> float:
  """D_max: the mean distortion of the better of two constant reproductions, the mean and the
  coordinate-wise median of `x` (the best constant for squared error (the mean image of §IV-E),
  absolute error and Hamming (the median), and for ‖·‖_p² on a source symmetric about its mean)."""
  dist = distortion_fn(config)
  constants = jnp.asarray(np.stack([x.mean(0), np.median(x, 0)]), jnp.float32)
  total = np.zeros(2)
  for s in range(0, len(x), 4096):
    total += np.asarray(dist(jnp.asarray(x[s:s + 4096]), constants), np.float64).sum(0)
  return float(total.min() / len(x))


def _kmeans_points(config, x_eval):
  """(log2 K, D_K) of k-means vector quantizers fit on the train split (an operational upper bound):
  D_K is the mean distortion (the configured one) of each eval point to its nearest codeword."""
  from sklearn.cluster import KMeans
  x_train = _flat(data_lib.load_arrays(config.data, "train"))
  dist = distortion_fn(config)
  points = []
  for num in progress.phase("k-means baseline", tuple(config.loss.get("kmeans", ())), unit="codebooks",
                            label=lambda k: f"K={k}"):
    km = KMeans(n_clusters=int(num), n_init=3, random_state=config.seed).fit(x_train)
    d = _pairwise_min(dist, x_eval, km.cluster_centers_.astype(np.float32)).mean()
    points.append((math.log2(num), float(d)))
  return points


def curve_checks(curve, kmeans=()) -> dict:
  """Checks of an R–D curve without a closed form, on the trusted points (`near_ceiling` False).

  R(D) is non-increasing and convex (paper §II; §IV-B checks this by eye): along decreasing |β̃|, D̂
  must not fall and R̂ must not rise (`curve_monotone`); in D order the chord slopes ΔR̂/ΔD̂ must not
  fall (`curve_convex`, pairs closer than 1e-3·D_max skipped). As β̃ → 0⁻, R̂ → 0 and D̂ → D_max,
  the distortion of the best constant reproduction (§IV-E: the mean image for squared error;
  `zero_rate_reached`: R̂ < 0.05 bit and D̂ within 2 % of D_max at the smallest |β̃|).
  `checked_points`: how many points these checks used.

  k-means points (log2 K, D_K): `kmeans_curve_R_bits[j]` is R̂ interpolated linearly at D_K between
  the trusted points, None where D_K lies outside their D̂ range; `kmeans_margin_bits[j]` =
  log2 K − that R̂; `kmeans_above_curve[j]` = margin ≥ 0 (None outside). `kmeans_in_range` counts
  the points inside the range, `kmeans_above` those of them above the curve, and
  `kmeans_all_above_curve` is True when at least one is in range and all in range are above.
  """
  ok = ~np.asarray(curve["near_ceiling"], bool)
  beta, d, r = (np.asarray(curve[k], np.float64)[ok] for k in ("beta", "D", "R_bits"))
  out = {"checked_points": int(ok.sum())}
  if out["checked_points"] == 0:
    return out
  order = np.argsort(beta)  # steepest slope first: D̂ rises and R̂ falls along it
  d, r = d[order], r[order]
  tol = 1e-3 * curve["D_max"]
  out.update({"curve_monotone": bool(np.all(np.diff(d) > -tol) and np.all(np.diff(r) < 1e-3)),
              "zero_rate_R_bits": float(r[-1]), "zero_rate_D_over_D_max": float(d[-1] / curve["D_max"])})
  out["zero_rate_reached"] = out["zero_rate_R_bits"] < 0.05 and abs(out["zero_rate_D_over_D_max"] - 1) <= 0.02
  by_d = np.argsort(d)
  d, r = d[by_d], r[by_d]
  keep = np.concatenate([[True], np.diff(d) > tol])
  d, r = d[keep], r[keep]
  slopes = np.diff(r) / np.diff(d)
  out["curve_convex"] = bool(np.all(np.diff(slopes) > -1e-2 * np.abs(slopes[:-1])))
  if kmeans:
    curve_r = [float(np.interp(dk, d, r)) if d[0] <= dk <= d[-1] else None for _, dk in kmeans]
    margins = [None if c is None else float(b - c) for (b, _), c in zip(kmeans, curve_r)]
    out["kmeans_curve_R_bits"] = curve_r
    out["kmeans_margin_bits"] = margins
    out["kmeans_above_curve"] = [None if m is None else bool(m >= 0) for m in margins]
    inside = [a for a in out["kmeans_above_curve"] if a is not None]
    out["kmeans_in_range"] = len(inside)
    out["kmeans_above"] = int(sum(inside))
    out["kmeans_all_above_curve"] = bool(inside) and all(inside)
  return out


def _qy_variances(config, sample_fns, d_hats) -> dict:
  """For a Gaussian source under squared error: per point, the variance of G(z) along each principal
  axis of the source (largest σ_k² first) and the reverse water-filling value max(σ_k² − λ, 0) of
  the optimal reproduction law at the water level λ of the point's D̂ (Cover & Thomas §10.3.3)."""
  src = _rd_source(config)
  if src is None or src.kind != "gaussian" or closed_form_bits(config) is None:
    return {}
  order = np.argsort(-src.variances, kind="stable")
  axes = (np.eye(src.dim) if src.rotation is None else np.asarray(src.rotation))[:, order]  # columns: eigenvectors
  num = int(config.loss.get("eval_num_samples", 40_000))
  chunk = int(min(config.loss.get("eval_chunk_size", 4000), num))
  key = jax.random.PRNGKey(config.seed + 2)
  out = {"qy_variance": [], "qy_variance_water_filling": [], "qy_variance_max_error": []}
  for sample_fn, d in zip(sample_fns, d_hats):
    s1, s2, n = np.zeros(src.dim), np.zeros(src.dim), 0
    for c in range(-(-num // chunk)):
      y = np.asarray(sample_fn(jax.random.fold_in(key, c), chunk), np.float64)[: num - c * chunk] @ axes
      s1, s2, n = s1 + y.sum(0), s2 + (y * y).sum(0), n + len(y)
    var = s2 / n - (s1 / n) ** 2
    target = theory.gaussian_test_channel(src.variances, distortion=float(d))["qy_var"][order]
    out["qy_variance"].append([float(v) for v in var])
    out["qy_variance_water_filling"].append([float(v) for v in target])
    out["qy_variance_max_error"].append(float(np.max(np.abs(var - target))))
  return out


def _source_title(config) -> str:
  """The plot title's source: the data name with its options (``gaussian20``, ``bernoulli p=0.3``)."""
  opts = ", ".join(f"{k}={v}" for k, v in sorted(config.data.options.items()) if k != "eval_size")
  return config.data.name + (f" ({opts})" if opts else "")


def _plot(path, curve, exact, kmeans, title):
  """``rd_curve.png``: NERD's points (untrusted ones crossed), the closed form, the k-means VQ points
  and the one-shot code's file rate at each point; the axes fit these, and the log2 M ceilings are
  drawn only where they fall inside them (else named in the legend)."""
  fig, ax = plotting.subplots(figsize=(5.6, 4))
  d, r, flag = np.asarray(curve["D"]), np.asarray(curve["R_bits"]), np.asarray(curve["near_ceiling"], bool)
  ds, rs = [d], [r]
  if exact is not None:
    d_max = curve.get("D_max") or max(d) * 1.5
    grid = np.linspace(max(min(d) * 0.6, 1e-6), max(min(max(d) * 1.5, d_max), max(d)), 200)
    ax.plot(grid, [exact(g) for g in grid], "k-", lw=1, label="R(D), closed form")
    ds.append(grid)
  ax.plot(d[~flag], r[~flag], "o", label="NERD R̂ at D̂")
  if flag.any():
    ax.plot(d[flag], r[flag], "x", color="red", label="NERD, near log2 M or log2 M_train (untrusted)")
  if kmeans:
    kb, kd = zip(*kmeans)
    ax.plot(kd, kb, "s", mfc="none", label="k-means VQ (log2 K)")
    ds.append(np.asarray(kd)), rs.append(np.asarray(kb))
  if curve.get("rcc_bits"):
    ax.plot(curve["rcc_D"], curve["rcc_bits"], "^", mfc="none", color="C2",
            label=f"one-shot code, file bits (N = 2^{curve['rcc_log2_N']:g})")
    ax.plot(curve["rcc_D"], curve["rcc_guarantee_bits"], "v", mfc="none", color="gray",
            label="its guarantee R̂ + log2(R̂ + 1) + 5 (eq. 25)")
    ds.append(np.asarray(curve["rcc_D"])), rs.append(np.asarray(curve["rcc_guarantee_bits"]))
  top = max(float(np.max(np.concatenate(rs))), 0.0)
  hi = top * 1.15 + 0.05
  ax.set_ylim(min(0.0, float(np.min(np.concatenate(rs)))) - 0.02 * hi, hi)
  lo_d, hi_d = float(np.min(np.concatenate(ds))), float(np.max(np.concatenate(ds)))
  ax.set_xlim(lo_d - 0.05 * (hi_d - lo_d), hi_d + 0.05 * (hi_d - lo_d) + 1e-9)
  for key, style in (("log2_M", "--"), ("log2_M_train", ":")):
    name = "log2 M" if key == "log2_M" else "log2 M_train"
    if curve[key] <= hi:
      ax.axhline(curve[key], ls=style, color="gray", lw=0.8, label=f"{name} = {curve[key]:.1f} (estimate ceiling)")
    else:
      ax.plot([], [], ls=style, color="gray", lw=0.8, label=f"{name} = {curve[key]:.1f} (above the plot)")
  ax.set_xlabel(f"distortion D ({curve['distortion']}, per sample)")
  ax.set_ylabel("rate (bits per sample)")
  ax.set_title(f"NERD R(D): {title}, {curve['distortion']}\nM = {curve['M']} eval, M_train = {curve['M_train']} samples",
               fontsize=9)
  ax.legend(fontsize=7)
  plotting.save(fig, path, dpi=120)


def _one_shot(config, sample_fns, x, curve, workdir) -> dict:
  """NERD-RCC of the eval points with each learned Q_Y into real files; checks the decoder's samples.

  Per point: `rcc_bits` (8 × file bytes / sources: one range-coded stream of all the indices, its
  header and CRC included), `rcc_huffman_bits` (mean per-source Zipf–Huffman codeword length, the
  paper's one-shot rate), `rcc_index_entropy_bits` (plug-in H(K)), `rcc_mean_log2_index` (E log2 K),
  `rcc_mean_log2_weight` (E log2 W_K; ≈ R̂ − γ/ln 2 for PFR with enough candidates), `rcc_D`,
  `rcc_guarantee_bits` (R̂ + log2(R̂ + 1) + 5, eq. (25)), `rcc_decoded_exactly`.
  """
  n_cand = int(config.loss.rcc_num_candidates)
  sources = x[: int(config.loss.get("rcc_sources", 1000))]
  fields = {"rcc_bits": "rate_bits_file", "rcc_huffman_bits": "rate_bits_huffman",
            "rcc_index_entropy_bits": "index_entropy_bits", "rcc_mean_log2_index": "mean_log2_index",
            "rcc_mean_log2_weight": "mean_log2_weight", "rcc_D": "distortion", "rcc_guarantee_bits": "guarantee_bits"}
  out = {k: [] for k in (*fields, "rcc_decoded_exactly")}
  for k, sample_fn in enumerate(progress.phase("one-shot coding", sample_fns, unit="points")):
    path = os.path.join(workdir, f"rcc_{k}.bin")
    encoded, info = one_shot.rcc_compress(
        sources, sample_fn, config.seed, curve["beta"][k], n_cand, max(curve["R_bits"][k], 0.0),
        method=config.loss.get("rcc_method", "pfr"), distortion=distortion_fn(config),
        sources_per_codebook=int(config.loss.get("rcc_sources_per_codebook", 100)),
        path=path if jax.process_index() == 0 else None, fingerprint=one_shot.sampler_fingerprint(sample_fn))
    decoded, _ = one_shot.rcc_decompress(encoded, sample_fn, config.seed,
                                         fingerprint=one_shot.sampler_fingerprint(sample_fn))
    for name, key in fields.items():
      out[name].append(float(info[key]))
    out["rcc_decoded_exactly"].append(bool(np.array_equal(decoded, info["samples"])))
  out["rcc_log2_N"] = math.log2(n_cand)
  out["rcc_num_sources"] = len(sources)
  return out


def report(params, model_state, ctx):
  config = ctx.config
  split = config.eval_splits[0]
  x = _flat(data_lib.load_arrays(config.data, split))
  if config.loss.get("eval_points", 0):
    x = x[: int(config.loss.eval_points)]
  results = readouts(config, params, model_state, x)
  num, num_train = int(config.loss.get("eval_num_samples", 40_000)), int(config.loss.get("num_samples", 4000))
  rates = [float(r["rate_bits"]) for r in results]
  flags = _ceilings(config, rates)
  d_max = _zero_rate_distortion(config, x)
  curve = {"mode": config.loss.get("mode", "lagrangian"), "distortion": _canonical_distortion(config),
           "M": num, "log2_M": math.log2(num), "M_train": num_train, "log2_M_train": math.log2(num_train),
           "beta": [float(r["beta"]) for r in results], "D": [float(r["d_hat"]) for r in results],
           "R_bits": rates, **{k: [bool(v) for v in flags[k]] for k in flags},
           "D_max": d_max, "eval_split": split, "eval_points": int(x.shape[0]),
           "warm_start": _warm(config)}
  if curve["mode"] == "constrained":
    curve["target_D"] = [float(t) for t in config.loss.targets]
  exact = closed_form_bits(config)
  sample_fns = _sample_fns(config, params, model_state, x[0])
  if exact is not None:
    curve["R_exact_bits"] = [float(exact(d)) for d in curve["D"]]
    curve["gap_bits"] = [r - e for r, e in zip(curve["R_bits"], curve["R_exact_bits"])]
    curve.update(_qy_variances(config, sample_fns, curve["D"]))
  kmeans = _kmeans_points(config, x) if config.loss.get("kmeans", ()) else []
  if kmeans:
    curve["kmeans_log2_K"], curve["kmeans_D"] = [p[0] for p in kmeans], [p[1] for p in kmeans]
  if exact is None:
    curve.update(curve_checks(curve, kmeans))
  if int(config.loss.get("rcc_num_candidates", 0)):
    curve.update(_one_shot(config, sample_fns, x, curve, ctx.workdir))
  if jax.process_index() == 0:
    with open(os.path.join(ctx.workdir, "rd_curve.json"), "w") as f:
      json.dump(curve, f, indent=1)
    _plot(os.path.join(ctx.workdir, "rd_curve.png"), curve, exact, kmeans, _source_title(config))
  return curve


def summary(curve: dict, workdir: str = "") -> str:
  """The printed tables of a NERD run: one row per point (β̃, D̂, R̂ in bits, the closed form and
  the gap where known, the Q_Y variances' error, the ceiling flags), the k-means points and the
  one-shot coding of each point; the same lists as ``rd_curve.json``."""
  has_exact, n = "R_exact_bits" in curve, len(curve["D"])
  qy = curve.get("qy_variance_max_error", ())
  lines = [f"NERD ({curve['mode']}, {curve['distortion']} distortion) on {curve['eval_points']} points of split "
           f"{curve['eval_split']!r}: M = {curve['M']} samples of each generator (log2 M = {curve['log2_M']:.2f} bits), "
           f"M_train = {curve['M_train']} (log2 = {curve['log2_M_train']:.2f})",
           f"{'point':>5} {'beta':>9}" + (f" {'target D':>9}" if "target_D" in curve else "") + f" {'D':>10} {'R bits':>8}"
           + (f" {'R(D) bits':>9} {'gap':>7}" if has_exact else "") + (f" {'Q_Y var err':>11}" if qy else "") + "  trusted"]
  for k in range(n):
    near = [name for name, key in (("log2 M", "near_eval_ceiling"), ("log2 M_train", "near_train_ceiling"))
            if curve[key][k]]
    lines.append(f"{k:>5} {curve['beta'][k]:>9.4g}" + (f" {curve['target_D'][k]:>9.4g}" if "target_D" in curve else "")
                 + f" {curve['D'][k]:>10.4g} {curve['R_bits'][k]:>8.3f}"
                 + (f" {curve['R_exact_bits'][k]:>9.3f} {curve['gap_bits'][k]:>+7.3f}" if has_exact else "")
                 + (f" {qy[k]:>11.3g}" if qy else "") + ("  no: near " + " and ".join(near) if near else "  yes"))
  legend = ("legend: beta = slope β̃ (nats per unit distortion), D = D̂, R = R̂ (bits), untrusted = R̂ within 1 bit of "
            "log2 M or 2 bits of log2 M_train")
  if has_exact:
    legend += "; R(D) = the closed form at D̂, gap = R̂ − R(D̂)"
  if qy:
    legend += "; Q_Y var err = the largest error of G(z)'s variances against max(σ² − λ, 0)"
  lines.append(legend)
  if "curve_convex" in curve:
    lines.append(f"monotone {curve['curve_monotone']}, convex {curve['curve_convex']} ({curve['checked_points']} trusted "
                 f"points); at the smallest |beta| R = {curve['zero_rate_R_bits']:.3f} bits, D/D_max = "
                 f"{curve['zero_rate_D_over_D_max']:.4f} (D_max = {curve['D_max']:.4g})")
  if curve.get("kmeans_D"):
    lines.append(f"{'k-means log2 K':>14} {'D_K':>10} {'curve R at D_K':>15} {'margin bits':>12}  (a VQ code of K cells: "
                 "its rate log2 K lies above R(D))")
    for k, (bits, dk) in enumerate(zip(curve["kmeans_log2_K"], curve["kmeans_D"])):
      at = curve["kmeans_curve_R_bits"][k] if "kmeans_curve_R_bits" in curve else None
      margin = curve["kmeans_margin_bits"][k] if at is not None else None
      lines.append(f"{bits:>14g} {dk:>10.4g} " + (f"{at:>15.3f} {margin:>+12.3f}" if at is not None else
                                                 f"{'outside':>15} {'-':>12}"))
    if "kmeans_in_range" in curve:
      lines.append(f"k-means: {curve['kmeans_above']} of the {curve['kmeans_in_range']} points inside the curve's D range "
                   f"lie above it ({len(curve['kmeans_D'])} points in all)")
  if curve.get("rcc_bits"):
    lines.append(f"one-shot coding of {curve['rcc_num_sources']} sources, N = 2^{curve['rcc_log2_N']:g} candidates "
                 f"(rcc_<point>.bin); bits per source:")
    lines.append(f"{'point':>5} {'D':>9} {'file':>8} {'Huffman':>8} {'H(K)':>7} {'E log2 K':>9} {'E log2 W':>9} "
                 f"{'guarantee':>10}  decoded exactly")
    for k, bits in enumerate(curve["rcc_bits"]):
      lines.append(f"{k:>5} {curve['rcc_D'][k]:>9.4g} {bits:>8.3f} {curve['rcc_huffman_bits'][k]:>8.3f} "
                   f"{curve['rcc_index_entropy_bits'][k]:>7.3f} {curve['rcc_mean_log2_index'][k]:>9.3f} "
                   f"{curve['rcc_mean_log2_weight'][k]:>9.3f} {curve['rcc_guarantee_bits'][k]:>10.3f}  "
                   f"{curve['rcc_decoded_exactly'][k]}")
    lines.append("legend: file = 8 × the file's bytes per source (one range-coded stream, header and CRC included), "
                 "Huffman = each source's own Zipf–Huffman codeword (the paper's one-shot rate), H(K) = entropy of the "
                 "indices, guarantee = R̂ + log2(R̂ + 1) + 5 (eq. 25)")
  return "\n".join(lines)


METHOD = methods.register(methods.Method("nerd", init, loss, evaluate, report, validate=validate,
                                         rerun_safe=("loss.eval_",), summary=summary))
