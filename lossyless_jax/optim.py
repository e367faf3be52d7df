"""Optimizers, learning-rate schedules and loss-coefficient schedules from config (optax)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lossyless_jax.config import ConfigError
from lossyless_jax.entropy.factorized import optimizer_labels as default_labels  # quantiles -> 'aux'

SCHEDULE_KINDS = ("constant", "linear", "exponential", "cosine", "step", "multistep")
OPTIMIZERS = ("adam", "adamw", "sgd", "lars")


def make_schedule(c, num_steps: int, where: str = "schedule") -> optax.Schedule:
  """A step -> value schedule from a `config.schedule_config` section (jittable)."""
  if c.kind not in SCHEDULE_KINDS:
    raise ConfigError(f"config.{where}.kind: {c.kind!r}; expected one of {', '.join(SCHEDULE_KINDS)}")
  value, warm = float(c.value), int(c.warmup_steps)
  span = int(c.decay_steps) if c.decay_steps is not None else max(num_steps - warm, 1)
  if c.kind == "constant":
    main = optax.constant_schedule(value)
  elif c.kind == "linear":
    end = 0.0 if c.end_value is None else float(c.end_value)
    main = optax.linear_schedule(value, end, span)
  elif c.kind == "exponential":
    end = value / 100 if c.end_value is None else float(c.end_value)
    if value <= 0 or end <= 0:
      raise ConfigError(f"config.{where}: exponential decay needs positive value and end_value, got {value}, {end}")
    main = optax.exponential_decay(value, span, end / value, end_value=end if end < value else None)
  elif c.kind == "cosine":
    end = 0.0 if c.end_value is None else float(c.end_value)
    main = optax.cosine_decay_schedule(value, span, alpha=end / value if value else 0.0)
  else:
    bounds = [float(b) for b in c.boundaries]
    if not bounds:
      raise ConfigError(f"config.{where}.boundaries: empty; {c.kind} needs at least one boundary")
    if c.kind == "multistep":
      if not all(0 < b < 1 for b in bounds):
        raise ConfigError(f"config.{where}.boundaries: {tuple(bounds)}; multistep boundaries are fractions in (0, 1)")
      bounds = [b * num_steps for b in bounds]
    main = optax.piecewise_constant_schedule(value, {max(int(b) - warm, 1): float(c.factor) for b in bounds})
  if warm <= 0:
    return main
  warmup = optax.linear_schedule(float(c.warmup_init) * value, value, warm)
  return optax.join_schedules([warmup, main], [warm])


def kernel_mask(params):
  """True for arrays with more than one axis (kernels); biases and batch-norm parameters get neither
  LARS's trust ratio nor its weight decay (the customary exclusion)."""
  return jax.tree_util.tree_map(lambda p: jnp.ndim(p) > 1, params)


def scale_by_lars(trust_coefficient: float, weight_decay: float, clip: bool, learning_rate: optax.Schedule,
                  eps: float = 0.0) -> optax.GradientTransformation:
  """LARS (You, Gitman, Ginsburg 2017), with LARC's clipping: per kernel ``w`` with gradient ``g``,
  ``g̃ = r (g + λw)`` with ``r = τ‖w‖ / (‖g‖ + λ‖w‖ + eps)``, clipped to ``min(r / η_t, 1)``; ``r = 1``
  where ``‖w‖`` or ``‖g‖`` is 0; other arrays pass unchanged. SGD with momentum follows it."""
  def init(params):
    del params
    return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update(updates, state, params):
    lr = learning_rate(state.count)
    mask = kernel_mask(params)

    def leaf(g, w, m):
      if not m:
        return g
      wn, gn = jnp.linalg.norm(w), jnp.linalg.norm(g)
      r = trust_coefficient * wn / (gn + weight_decay * wn + eps)
      if clip:
        r = jnp.minimum(r / lr, 1.0)
      r = jnp.where((wn > 0) & (gn > 0), r, 1.0)
      return (r * (g + weight_decay * w)).astype(g.dtype)
    return jax.tree_util.tree_map(leaf, updates, params, mask), optax.ScaleByScheduleState(count=state.count + 1)
  return optax.GradientTransformation(init, update)


def _base_optimizer(c, num_steps: int, where: str) -> optax.GradientTransformation:
  if c.name not in OPTIMIZERS:
    raise ConfigError(f"config.{where}.name: {c.name!r}; expected one of {', '.join(OPTIMIZERS)}")
  lr = make_schedule(c.lr, num_steps, f"{where}.lr")
  if c.name == "adam":
    opt = optax.adam(lr, b1=c.b1, b2=c.b2, eps=c.eps)
  elif c.name == "adamw":
    opt = optax.adamw(lr, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay)
  elif c.name == "lars":
    opt = optax.chain(scale_by_lars(float(c.trust_coefficient), float(c.weight_decay), bool(c.lars_clip), lr),
                      optax.sgd(lr, momentum=c.momentum or None, nesterov=c.nesterov))
  else:
    opt = optax.sgd(lr, momentum=c.momentum or None, nesterov=c.nesterov)
  if c.clip_norm is not None:
    opt = optax.chain(optax.clip_by_global_norm(c.clip_norm), opt)
  return opt


def make_optimizer(optim_config, num_steps: int, params, param_labels=None) -> optax.GradientTransformation:
  """The run's optimizer: one optax chain per parameter group, then gradient accumulation.

  Group `default` uses `config.optim`; every other label used by `param_labels(params)` needs
  a section `config.optim.groups.<label>` (an unknown label raises naming it).
  """
  labels = (param_labels or default_labels)(params)
  used = sorted(set(jax.tree_util.tree_leaves(labels)))
  transforms = {}
  for label in used:
    if label == "default":
      transforms[label] = _base_optimizer(optim_config, num_steps, "optim")
    elif label in optim_config.groups:
      transforms[label] = _base_optimizer(optim_config.groups[label], num_steps, f"optim.groups.{label}")
    else:
      raise ConfigError(f"config.optim.groups.{label}: missing; parameters labelled {label!r} need their "
                        f"own optimizer section (set config.optim.groups.{label} = config.optimizer_config(...))")
  for label in optim_config.groups.keys():
    if label not in used:
      raise ConfigError(f"config.optim.groups.{label}: no parameter has this label (labels in use: {', '.join(used)})")
  opt = optax.multi_transform(transforms, labels) if len(transforms) > 1 or used != ["default"] else transforms["default"]
  if optim_config.accumulate_steps > 1:
    opt = optax.MultiSteps(opt, every_k_schedule=optim_config.accumulate_steps)
  return opt


def make_coefficients(coefs_config, num_steps: int):
  """step -> {name: value} for the loss coefficients in `config.coefs` (jittable)."""
  schedules = {name: make_schedule(c, num_steps, f"coefs.{name}") for name, c in coefs_config.items()}
  return lambda step: {name: jnp.asarray(s(step), jnp.float32) for name, s in schedules.items()}


def check(config) -> None:
  """Builds the optimizer of ``config.optim``, of each group and every coefficient schedule once
  (no parameters needed): a bad name, kind or boundary fails before any data or model is built."""
  _base_optimizer(config.optim, config.num_steps, "optim")
  for label, group in config.optim.groups.items():
    _base_optimizer(group, config.num_steps, f"optim.groups.{label}")
  make_coefficients(config.coefs, config.num_steps)
