"""Registry of methods: one per paper, each a frozen dataclass of pure functions.

`train.train_and_eval` knows nothing about any paper; it asks `get(config.method)` for a
`Method` and calls its functions:

* ``init(rng, batch, config) -> (params, model_state)``: parameters (trainable) and
  non-trainable state (e.g. batch statistics; ``{}`` if none), from one host batch.
* ``loss(params, model_state, batch, rng, ctx) -> (loss, (metrics, new_model_state))``:
  a pure scalar loss on the *global* batch (write it for one device: under `jax.jit` with the
  batch sharded over the mesh, XLA inserts the collectives). ``ctx`` is a `StepContext`.
* ``evaluate(params, model_state, batches, ctx) -> dict[str, float]``: metrics on an eval
  split; ``batches`` yields sharded global batches with a ``mask`` entry (1 real, 0 padding).
* ``report(params, model_state, ctx) -> dict``: writes the artifacts of the run under
  ``ctx.workdir`` and returns a flat JSON-able dict of final results (`report.json`).
* ``param_labels(params) -> pytree of str`` (optional): optimizer group of each parameter;
  by default any parameter whose path contains ``quantiles`` is in group ``aux`` and all
  others in ``default``.
* ``validate(config)`` (optional): checks the method's own sections (``model``, ``loss``) before
  anything runs, raising ``config.ConfigError`` naming the field.
* ``summary(report, workdir) -> str`` (optional): the table printed at the end of a run and by a
  rerun of a finished one, from ``report.json`` and the workdir's files (units and a legend; the
  raw report stays in ``report.json``); by default the report's scalars, one per line.
* ``rerun_safe`` (optional): dotted field names (a trailing ``.`` or ``_`` makes a prefix) of
  the method's evaluation-only fields, which a rerun of a workdir may change (`rerun`).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Optional

from lossyless_jax.config import ConfigError

_REGISTRY: dict[str, "Method"] = {}
# Methods living in modules of this package, imported on first use so that importing the
# registry stays cheap: name -> module path.
_BUILTIN: dict[str, str] = {
    "nerd": "lossyless_jax.methods.nerd",
    "wgan_gp": "lossyless_jax.methods.wgan_gp",
    "vic": "lossyless_jax.methods.lossyless.method",
    "vc": "lossyless_jax.methods.lossyless.method",
    "bince": "lossyless_jax.methods.lossyless.method",
    "staggered": "lossyless_jax.methods.lossyless.method",
    "gray_wyner": "lossyless_jax.methods.gray_wyner.method",
    "cityscapes_task": "lossyless_jax.methods.cityscapes_task",
    "infomax": "lossyless_jax.methods.infomax",
}


@dataclasses.dataclass(frozen=True)
class StepContext:
  """What a method's functions see besides arrays.

  step: the global optimizer step (a traced int inside `loss`).
  coefs: loss coefficients evaluated at `step` from `config.coefs` schedules.
  config: the run's resolved ConfigDict (static).
  workdir: the run directory (only set for `evaluate`/`report`).
  mesh / shard: the device mesh and a function laying a host batch out over it
    (for `evaluate` and `report`, which may build their own batches).
  """
  step: Any
  coefs: dict
  config: Any
  workdir: Optional[str] = None
  mesh: Any = None
  shard: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  init: Callable
  loss: Callable
  evaluate: Callable
  report: Callable
  param_labels: Optional[Callable] = None
  validate: Optional[Callable] = None
  rerun_safe: tuple = ()
  summary: Optional[Callable] = None
  # parameter subtrees (dict keys) kept float32 under config.precision='bfloat16': entropy models
  float32_params: tuple = ()


def register(method: Method) -> Method:
  """Adds `method` to the registry (re-registering a name replaces it)."""
  _REGISTRY[method.name] = method
  return method


def names() -> list[str]:
  return sorted(set(_REGISTRY) | set(_BUILTIN))


def get(name: str) -> Method:
  """The method registered as `name`; a wrong name raises listing the valid ones."""
  if name not in _REGISTRY and name in _BUILTIN:
    importlib.import_module(_BUILTIN[name])
  if name not in _REGISTRY:
    raise ConfigError(f"config.method: unknown method {name!r}; valid methods: {', '.join(names()) or '(none registered)'}")
  return _REGISTRY[name]


def jit_once(fn: Callable, *args):
  """``fn(*args)`` traced and compiled as one program, for code that runs once per run
  (parameter initialisation). On CPU the XLA backend optimisation is switched off: an eager or
  optimised ResNet18 init with threefry keys takes ~30 s to compile on 2 cores, ~2 s this way
  (the run time of a one-off program is negligible)."""
  import jax
  lowered = jax.jit(fn).lower(*args)
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  return lowered.compile(compiler_options=options)(*args)
