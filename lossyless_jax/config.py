"""The loop's configuration schema: `base_config()` and `validate(config)`.

Every experiment config (``configs/<name>.py``) starts from `base_config()` and sets the
fields of its method. The loop's own sections are validated against the schema before
training (unknown field, wrong type -> `ConfigError` naming the field); the method's own
sections (`model`, `loss`) and the free-form dicts (`optim.groups`, `coefs`) are the
method's to check.
"""
from __future__ import annotations

import difflib
import math
import numbers

import ml_collections

from lossyless_jax import errors

# Sections whose keys are free-form (checked by the method or by the optimizer builder).
_FREE_FORM = ("model", "loss", "tasks", "optim.groups", "coefs", "data.options")


class ConfigError(errors.InputError):
  """A configuration field is unknown, of the wrong type, or has an invalid value."""


def schedule_config(**overrides) -> ml_collections.ConfigDict:
  """A schedule (learning rate or loss coefficient), see `optim.make_schedule`.

  kind: constant | linear | exponential | cosine | step | multistep.
  value: the base value. warmup_steps: linear ramp from `warmup_init * value`.
  end_value: final value for linear / exponential / cosine (None: 1/100 of `value` for
    exponential, 0 for cosine). decay_steps: steps from the end of warm-up to `end_value`
    (None: the rest of training). boundaries / factor: step-wise decays, `value` is
    multiplied by `factor` at each boundary (a step count; with `multistep` boundaries
    are fractions of the training steps).
  """
  c = ml_collections.ConfigDict(dict(
      kind="constant", value=1.0, warmup_steps=0, warmup_init=0.0,
      end_value=ml_collections.FieldReference(None, field_type=float),
      decay_steps=ml_collections.FieldReference(None, field_type=int),
      boundaries=(), factor=0.1))
  c.update(overrides)
  return c


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  """An optimizer group, see `optim.make_optimizer`."""
  c = ml_collections.ConfigDict(dict(
      name="adam",  # adam | adamw | sgd | lars
      lr=schedule_config(value=1e-3),
      weight_decay=0.0, b1=0.9, b2=0.999, eps=1e-8, momentum=0.9, nesterov=False,
      trust_coefficient=0.001, lars_clip=False,  # lars only (LARC clipping with lars_clip)
      clip_norm=ml_collections.FieldReference(None, field_type=float),
  ))
  for key, value in overrides.items():  # (assignment, not update: `lr` may be a whole schedule section)
    c[key] = value
  return c


def base_config() -> ml_collections.ConfigDict:
  """Defaults of every field the loop reads."""
  c = ml_collections.ConfigDict()
  c.method = ""
  c.seed = 0
  c.num_steps = 1000
  c.log_every = 50
  c.eval_every = 500
  c.eval_splits = ("test",)
  # Between full evaluations, for the TensorBoard curves only: every `eval_subset.every` steps (0:
  # never) the first `eval_subset.size` examples of each eval split, logged as "<split>_subset".
  # It selects nothing: monitor, best checkpoint and patience use the full evaluations.
  c.eval_subset = ml_collections.ConfigDict(dict(every=0, size=512))
  # "split/metric" of the evaluation that picks the best checkpoint and early-stops.
  c.monitor = "test/loss"
  c.monitor_mode = "min"  # min | max
  c.patience = 0  # evaluations without improvement before stopping; 0 disables.
  c.report_on = "best"  # best | last: which parameters `method.report` sees.
  # float32 | bfloat16: the training step's compute dtype (float32 parameters and entropy models
  # either way; `lossyless_jax.precision`).
  c.precision = "float32"

  c.data = ml_collections.ConfigDict(dict(
      name="digits",
      batch_size=128,  # global batch, over all devices and hosts.
      eval_batch_size=512,
      seed=0,
      data_dir=ml_collections.FieldReference(None, field_type=str),
      image_size=0,  # 0: native resolution.
      train_split="train",  # the split the optimizer sees (e.g. STL10's "unlabelled").
      shuffle_buffer=10_000,
      options=ml_collections.ConfigDict(),  # source-specific options.
  ))

  c.optim = optimizer_config()
  c.optim.accumulate_steps = 1
  # Extra optimizer groups by parameter label, e.g. groups.aux = optimizer_config(...).
  c.optim.groups = ml_collections.ConfigDict()
  # Loss coefficients with schedules, evaluated at the step inside the jitted step:
  # coefs.beta = schedule_config(kind="linear", value=0.1, warmup_steps=1000).
  c.coefs = ml_collections.ConfigDict()

  c.checkpoint = ml_collections.ConfigDict(dict(
      every=500,  # steps between "latest" checkpoints (also saved at each evaluation).
      keep=2,  # latest checkpoints kept.
      keep_best=1,  # best checkpoints kept.
  ))

  c.distributed = ml_collections.ConfigDict(dict(
      coordinator_address=ml_collections.FieldReference(None, field_type=str),
      num_processes=ml_collections.FieldReference(None, field_type=int),
      process_id=ml_collections.FieldReference(None, field_type=int),
  ))

  c.model = ml_collections.ConfigDict()
  c.loss = ml_collections.ConfigDict()
  c.tasks = ml_collections.ConfigDict()  # a method's frozen task networks (Gray-Wyner on Cityscapes)
  return c


def _unknown_field(path: str, key: str, section) -> ConfigError:
  close = difflib.get_close_matches(key, list(section.keys()), n=3)
  hint = f"; did you mean {', '.join(close)}?" if close else f"; valid fields: {', '.join(sorted(section.keys()))}"
  return ConfigError(f"config.{path}: unknown field{hint}")


def check_field(config: ml_collections.ConfigDict, path: str) -> None:
  """Raises ConfigError (with close matches) unless ``config.<path>`` exists: a command line's
  ``--config.<path>=value`` may only set a field the config has."""
  node, parts = config, path.split(".")
  for i, key in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict):
      raise ConfigError(f"config.{'.'.join(parts[:i])}: {node!r} is a value, not a section with field {key!r}")
    if key not in node:
      raise _unknown_field(".".join(parts[:i + 1]), key, node)
    node = node[key]


def _check(value, ref, path: str, free_form=_FREE_FORM):
  if any(path == f or path.startswith(f + ".") for f in free_form):
    return
  if isinstance(ref, ml_collections.ConfigDict):
    if not isinstance(value, ml_collections.ConfigDict):
      raise ConfigError(f"config.{path}: expected a ConfigDict section, got {type(value).__name__}")
    for key in value.keys():
      sub = f"{path}.{key}" if path else key
      if any(sub == f or sub.startswith(f + ".") for f in free_form):
        continue
      if key not in ref:
        raise _unknown_field(sub, key, ref)
      _check(value[key], ref[key], sub, free_form)
    return
  if ref is None or value is None:
    return
  numbers = (int, float)
  if isinstance(ref, bool) != isinstance(value, bool) or (
      not isinstance(value, type(ref)) and not (isinstance(ref, float) and isinstance(value, numbers))
      and not (isinstance(ref, (tuple, list)) and isinstance(value, (tuple, list)))):
    raise ConfigError(f"config.{path}: expected {type(ref).__name__}, got {type(value).__name__} ({value!r})")


def check_section(value, reference: ml_collections.ConfigDict, path: str) -> None:
  """Checks a method's own section (``model``, ``loss``) against its reference defaults: an
  unknown field (with close matches) or a value of the wrong type raises ConfigError."""
  _check(value, reference, path, free_form=())


def check_choice(value, choices, path: str) -> None:
  """Raises ConfigError unless ``value`` (of field ``config.<path>``) is one of ``choices``."""
  if value not in choices:
    raise ConfigError(f"config.{path}: {value!r}; expected one of {', '.join(map(repr, choices))}")


def check_arg(arg: str, choices, config_file: str) -> None:
  """Raises ConfigError unless a config file's ``:arg`` (after ``configs/<name>.py:``) is one of
  ``choices``; every config calls it, so a typo such as ``:tinny`` never runs the full job."""
  if arg not in choices:
    raise ConfigError(f"{config_file}: unknown arg {arg!r}; expected one of {', '.join(map(repr, choices))}")


# Field checks of the methods' own sections: field -> (predicate, what is expected), see `check_fields`.
def is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
  return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE_INT = (lambda v: is_int(v) and v >= 1, "a positive integer")
NON_NEGATIVE_INT = (lambda v: is_int(v) and v >= 0, "a non-negative integer")
POSITIVE = (lambda v: is_real(v) and v > 0, "a positive number")
NON_NEGATIVE = (lambda v: is_real(v) and v >= 0, "a non-negative number")
NEGATIVE = (lambda v: is_real(v) and v < 0, "a negative number")
PROBABILITY = (lambda v: is_real(v) and 0 <= v <= 1, "a probability in [0, 1]")


def one_of(*choices):
  return (lambda v: v in choices, f"one of {', '.join(map(repr, choices))}")


def each(check):
  """A tuple whose entries all pass ``check`` (e.g. ``each(POSITIVE_INT)``: hidden widths)."""
  ok, what = check
  return (lambda v: isinstance(v, (tuple, list)) and all(ok(x) for x in v),
          f"a tuple of {what[2:]}s" if what.startswith("a ") else f"a tuple of entries, each {what}")


def optional(check):
  ok, what = check
  return (lambda v: v is None or ok(v), f"{what} or None")


def check_fields(section, checks: dict, path: str) -> None:
  """Raises ``ConfigError`` naming the first field ``config.<path>.<key>`` of ``section`` whose
  value fails its ``checks[key]`` (absent fields are skipped: they take their default)."""
  for key, (ok, expected) in checks.items():
    if key in section and not ok(section[key]):
      raise ConfigError(f"config.{path}.{key}: {section[key]!r}; expected {expected}")



def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks the loop's fields against `base_config()`; returns `config`.

  Raises ConfigError naming the first unknown or ill-typed field, or an invalid value.
  """
  _check(config, base_config(), "")
  for group_name, group in config.optim.groups.items():
    _check(group, optimizer_config(), f"optim.groups.{group_name}")
  for coef_name, sched in config.coefs.items():
    _check(sched, schedule_config(), f"coefs.{coef_name}")
  if not config.method:
    raise ConfigError("config.method: empty; set it to a registered method name")
  if config.monitor_mode not in ("min", "max"):
    raise ConfigError(f"config.monitor_mode: {config.monitor_mode!r}; expected 'min' or 'max'")
  if config.report_on not in ("best", "last"):
    raise ConfigError(f"config.report_on: {config.report_on!r}; expected 'best' or 'last'")
  if config.precision not in ("float32", "bfloat16"):
    raise ConfigError(f"config.precision: {config.precision!r}; expected 'float32' or 'bfloat16'")
  if config.eval_subset.every < 0:
    raise ConfigError(f"config.eval_subset.every: {config.eval_subset.every}; expected ≥ 0 (0 disables the subset)")
  if "/" not in config.monitor:
    raise ConfigError(f"config.monitor: {config.monitor!r}; expected 'split/metric', e.g. 'test/loss'")
  if config.monitor.split("/")[0] not in config.eval_splits:
    raise ConfigError(f"config.monitor: split {config.monitor.split('/')[0]!r} is not in config.eval_splits {tuple(config.eval_splits)}")
  for coef_name, sched in config.coefs.items():
    if sched.value < 0 or (sched.end_value is not None and sched.end_value < 0):
      raise ConfigError(f"config.coefs.{coef_name}: value {sched.value}, end_value {sched.end_value}; "
                        "expected non-negative loss coefficients")
  for field in ("num_steps", "log_every", "eval_every", "eval_subset.size", "data.batch_size", "data.eval_batch_size",
                "checkpoint.every", "checkpoint.keep", "checkpoint.keep_best", "optim.accumulate_steps"):
    v = config
    for part in field.split("."):
      v = v[part]
    if v < 1:
      raise ConfigError(f"config.{field}: {v}; expected a positive integer")
  return config


def _configs_dir() -> str:
  import os
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def catalog(folder: str | None = None) -> list[tuple[str, str]]:
  """``(configs/<name>.py, its summary)`` for each config: the docstring's first paragraph after the
  COMMAND line, up to its first colon,
  read without running them (``launch/main.py --list``)."""
  import ast
  import os
  folder = folder or _configs_dir()
  out = []
  for name in sorted(f for f in os.listdir(folder) if f.endswith(".py")) if os.path.isdir(folder) else []:
    with open(os.path.join(folder, name)) as f:
      doc = ast.get_docstring(ast.parse(f.read())) or ""
    paragraph = " ".join(doc.split("\n\n", 2)[1 if doc.startswith("COMMAND") else 0].split())
    summary = paragraph.split(": ", 1)[0]
    out.append((f"configs/{name}", summary if len(summary) <= 110 else summary[:109] + "…"))
  return out


def load(spec: str) -> ml_collections.ConfigDict:
  """The config of ``"configs/<name>.py[:arg]"`` (what ``launch/main.py --config=`` takes), for
  notebooks and scripts. A relative path is looked up from the working directory, then from the
  repository root; a missing file raises ConfigError naming the path and the configs there."""
  import importlib.util
  import os
  path, _, arg = spec.partition(":")
  root = os.path.dirname(_configs_dir())
  candidates = [path] if os.path.isabs(path) else [path, os.path.join(root, path)]
  found = next((p for p in candidates if os.path.isfile(p)), None)
  if found is None:
    folder = os.path.join(root, "configs")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".py")) if os.path.isdir(folder) else []
    raise ConfigError(f"config file {path!r} not found (looked in {', '.join(candidates)}); "
                      f"configs/ has: {', '.join(names) or '(none)'}")
  if not found.endswith(".py"):
    raise ConfigError(f"config file {found!r}: not a Python file (configs/<name>.py)")
  module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(found))[0], found)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{found}: defines no get_config(arg)")
  return module.get_config(arg) if arg else module.get_config()
