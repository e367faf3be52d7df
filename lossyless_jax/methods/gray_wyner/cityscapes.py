"""Cityscapes wiring of the Gray-Wyner method: the frozen task networks and their distortions
(Gray-Wyner paper §4.3, §3.6, App. D.5).

Task 1 is segmentation, ``UpSample(19) ∘ DeepLabV3+ ∘ DownSample(3)`` on ``X̂1``; task 2 is depth
(disparity), ``UpSample(1) ∘ LRASPP ∘ DownSample(3)`` on ``X̂2`` (`nets.cityscapes_tasks`). Their
variables live in the method's non-trainable state (``model_state["segmentation"]``,
``model_state["depth"]``), so the optimizer never updates them, and they run with batch norm in
inference mode; gradients flow through them into the codec.

Config section ``tasks``: ``segmentation_weights`` and ``depth_weights`` (local files of the
wrapped task networks: the ``task_weights.msgpack`` a stage-0 run of
``configs/cityscapes_segmentation_samplers.py`` / ``configs/cityscapes_depth.py`` writes),
``tiny`` (the small smoke-test widths of `nets.cityscapes_tasks`) and ``random_init`` (random frozen
networks instead of files: smoke tests only). Nothing is ever downloaded.
"""
from __future__ import annotations

import functools
import os

import jax
import ml_collections

from lossyless_jax import config as config_lib
from lossyless_jax import errors
from lossyless_jax.losses import cityscapes as cs_loss

TASKS = dict(segmentation_weights="", depth_weights="", tiny=False, random_init=False)
WEIGHT_FIELDS = {"segmentation": "segmentation_weights", "depth": "depth_weights"}
STAGE0 = {"segmentation": "configs/cityscapes_segmentation_samplers.py", "depth": "configs/cityscapes_depth.py"}


def tasks_section() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(TASKS))


def producing_command(task: str) -> str:
  """The commands that produce the weights file of ``task``: the converter (`nets.task_weights`),
  then the stage-0 pretraining."""
  from lossyless_jax.nets import cityscapes_tasks, task_weights
  init = f"{task}_init.msgpack"
  return (f"{task_weights.conversion_command(cityscapes_tasks.network(task), init)}; then "
          f"python launch/main.py --config={STAGE0[task]} --config.tasks.init_weights={init} "
          f"--workdir=runs/{task}  (writes runs/{task}/task_weights.msgpack)")


def check(config) -> None:
  """Checks ``config.tasks``, the dataset's files (`data.check`) and, unless ``random_init``, that
  both weights files exist. One error lists every problem: the dataset's (with the expected layout
  and ``config.data.data_dir``) first, then each missing weights file with the commands that
  produce it. Lists files only, so a machine without Cityscapes fails within seconds."""
  from lossyless_jax import data as data_lib
  if not config.get("tasks"):
    raise config_lib.ConfigError("config.tasks: empty; the Cityscapes codec needs the frozen task networks "
                                 f"(fields {', '.join(TASKS)})")
  config_lib.check_section(config.tasks, tasks_section(), "tasks")
  problems, data_problem = [], False
  try:
    data_lib.check(config.data)
  except errors.DataError as e:
    problems.append(str(e))
    data_problem = True
  if not config.tasks.random_init:
    for task, field in WEIGHT_FIELDS.items():
      path = config.tasks[field]
      if not path or not os.path.isfile(path):
        problems.append(f"config.tasks.{field} = {path!r}: " + ("not set" if not path else "no such file")
                        + f"; produce it with: {producing_command(task)}")
  if problems:
    kind = errors.DataError if data_problem else errors.WeightsError
    raise kind("the Cityscapes Gray-Wyner run cannot start:\n  " + "\n  ".join(problems))


def init_state(config, rng, x: jax.Array) -> dict:
  """The frozen task networks' variables, from ``config.tasks`` files (or random, ``random_init``)."""
  from lossyless_jax.nets import cityscapes_tasks, task_weights
  tiny = bool(config.tasks.tiny)
  seg, dep = cityscapes_tasks.network("segmentation", tiny), cityscapes_tasks.network("depth", tiny)
  if config.tasks.random_init:
    from lossyless_jax import methods
    r1, r2 = jax.random.split(rng)
    init = lambda m, r: methods.jit_once(functools.partial(m.init, train=False), r, x)
    return {"segmentation": init(seg, r1), "depth": init(dep, r2)}
  return {"segmentation": task_weights.load(config.tasks.segmentation_weights, seg, x),
          "depth": task_weights.load(config.tasks.depth_weights, dep, x)}


def predict(config, model_state: dict, recons) -> tuple[jax.Array, jax.Array]:
  """``(segmentation logits (B,H,W,19), disparity (B,H,W))`` of the frozen nets on ``(X̂1, X̂2)``."""
  from lossyless_jax.nets import cityscapes_tasks
  tiny = bool(config.tasks.tiny)
  x1, x2 = recons
  logits = cityscapes_tasks.network("segmentation", tiny).apply(model_state["segmentation"], x1, train=False)
  return logits, cityscapes_tasks.network("depth", tiny).apply(model_state["depth"], x2, train=False)


def per_image(outputs, batch) -> tuple[jax.Array, jax.Array, dict]:
  """Per image ``(d1, d2, extra)``: 19·CE, disparity RMSE in pixels, and the confusion counts."""
  logits, disparity = outputs
  out = cs_loss.per_image(logits, batch["label"], disparity, batch["disparity"], batch["disparity_mask"])
  return out["d1"], out["d2"], {"rmse_px": out["rmse_px"], "confusion": out["confusion"]}


def batch_distortions(outputs, batch) -> tuple[jax.Array, jax.Array]:
  """The training distortions of §4.3 over the batch: ``19·CE`` over its valid pixels and
  ``128·sqrt(mean_b masked MSE_b)``."""
  logits, disparity = outputs
  return (cs_loss.segmentation_loss(logits, batch["label"]),
          cs_loss.depth_loss(disparity, batch["disparity"], batch["disparity_mask"]))
