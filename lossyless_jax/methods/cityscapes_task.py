"""Method ``"cityscapes_task"``: stage-0 pretraining of the Gray-Wyner Cityscapes task networks
(Gray-Wyner paper §3.6, §4.3, App. D.5).

* ``model.task = "segmentation"``: ``UpSample(19) ∘ DeepLabV3+ ∘ DownSample(3)`` where only the two
  samplers learn; the DeepLabV3+ (initialised from converted weights) stays frozen with batch norm
  in inference mode. Loss ``19·CE`` over the batch's non-ignored pixels.
* ``model.task = "depth"``: ``UpSample(1) ∘ LRASPP ∘ DownSample(3)``; every parameter learns from an
  ImageNet-initialised MobileNetV3 backbone, and batch norm runs in training mode (its statistics
  update), as in the authors' code. Loss ``128·sqrt(masked MSE)`` (the disparity RMSE in pixels).

Evaluation: ``loss``, ``miou`` and ``acc_macro`` (macro per-class accuracy) from the split's 19×19
confusion matrix, or ``rmse_px`` (mean per-image masked RMSE in pixels). The report writes the
trained wrapped network to ``workdir/task_weights.msgpack`` (`nets.task_weights`), the file
``configs/gray_wyner_cityscapes.py`` names in ``tasks.segmentation_weights`` / ``depth_weights``.

Config ``model``: ``task``; ``tasks``: ``init_weights`` (a converted weights file of the wrapped
network, `tools/convert_torch_weights.py`; empty: random initialisation, smoke tests only) and
``tiny`` (the small smoke-test widths).
"""
from __future__ import annotations

import functools
import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lossyless_jax import config as config_lib
from lossyless_jax import errors, methods, parallel
from lossyless_jax.config import one_of
from lossyless_jax.evaluation import segmentation
from lossyless_jax.losses import cityscapes as cs_loss

TASKS = ("segmentation", "depth")
SAMPLERS = ("down", "up")  # the wrapped networks' sampler submodules (`nets.cityscapes_tasks`)
WEIGHTS_FILE = "task_weights.msgpack"


def base_config():
  """The authors' stage-0 recipe: AdamW lr 1e-4 with PyTorch's default weight decay 0.01."""
  c = config_lib.base_config()
  c.method = "cityscapes_task"
  c.data.name = "cityscapes"
  c.optim.name = "adamw"
  c.optim.lr.value = 1e-4
  c.optim.weight_decay = 0.01
  c.eval_splits = ("validation",)
  c.monitor = "validation/loss"
  c.model = ml_collections.ConfigDict(dict(task="segmentation"))
  c.tasks = ml_collections.ConfigDict(dict(init_weights="", tiny=False))
  return c


SMOKE_TREE = dict(train=8, val=4, height=64, width=128)


def smoke(c) -> None:
  """The ``:smoke`` settings of both stage-0 configs: a generated 64×128 tree (written into
  ``data.data_dir`` on first use), tiny random networks, batch 2 and four steps."""
  c.data.data_dir = "/tmp/lossyless_jax_cityscapes_smoke"
  c.data.options.fake_tree = dict(SMOKE_TREE)
  c.data.options.num_workers = 0
  c.data.batch_size = c.data.eval_batch_size = 2
  c.tasks.init_weights = ""
  c.tasks.tiny = True
  c.num_steps = 4
  c.eval_every = c.checkpoint.every = 2
  c.log_every = 2
  c.patience = 0


def validate(config) -> None:
  config_lib.check_section(config.model, ml_collections.ConfigDict(dict(task="segmentation")), "model")
  config_lib.check_section(config.tasks, ml_collections.ConfigDict(dict(init_weights="", tiny=False)), "tasks")
  config_lib.check_fields(config.model, dict(task=one_of(*TASKS)), "model")
  path = config.tasks.init_weights
  if path and not os.path.isfile(path):
    from lossyless_jax.nets import cityscapes_tasks, task_weights
    raise errors.WeightsError(f"config.tasks.init_weights: {path!r}: no such file; produce it with: "
                              + task_weights.conversion_command(cityscapes_tasks.network(config.model.task), path))


def _module(config):
  from lossyless_jax.nets import cityscapes_tasks
  return cityscapes_tasks.network(config.model.task, bool(config.tasks.tiny))


def _split(task: str, variables: dict) -> tuple[dict, dict]:
  """``(params, model_state)``: the trainable parameters and everything else."""
  variables = flax.core.unfreeze(variables)
  params = variables.pop("params")
  if task == "segmentation":
    frozen = {k: v for k, v in params.items() if k not in SAMPLERS}
    params = {k: v for k, v in params.items() if k in SAMPLERS}
    return params, {"frozen_params": frozen, **variables}
  return params, variables


def variables_of(config, params, model_state) -> dict:
  """The wrapped network's whole variables from the method's two halves."""
  state = dict(model_state)
  frozen = state.pop("frozen_params", {})
  return {"params": {**frozen, **params}, **state}


def init(rng, batch, config):
  from lossyless_jax.nets import task_weights
  mod = _module(config)
  x = jnp.asarray(batch["image"][:1], jnp.float32)
  if config.tasks.init_weights:
    variables = task_weights.load(config.tasks.init_weights, mod, x)
  else:
    variables = methods.jit_once(functools.partial(mod.init, train=False), rng, x)
  return _split(config.model.task, variables)


def _apply(config, params, model_state, x, train: bool):
  """Outputs and the new model state (depth training updates the batch statistics)."""
  mod = _module(config)
  variables = variables_of(config, params, model_state)
  if config.model.task == "depth" and train:
    out, updates = mod.apply(variables, x, train=True, mutable=["batch_stats"])
    return out, {**model_state, **updates}
  return mod.apply(variables, x, train=False), model_state


def loss(params, model_state, batch, rng, ctx):
  config = ctx.config
  out, new_state = _apply(config, params, model_state, batch["image"], train=True)
  if config.model.task == "segmentation":
    value = cs_loss.segmentation_loss(out, batch["label"])
  else:
    value = cs_loss.depth_loss(out, batch["disparity"], batch["disparity_mask"])
  return value, ({"loss": value}, new_state)


@functools.lru_cache(maxsize=None)
def _per_image_fn(task: str, tiny: bool):
  from lossyless_jax.nets import cityscapes_tasks
  mod = cityscapes_tasks.network(task, tiny)

  @jax.jit
  def fn(variables, batch):
    out = mod.apply(variables, batch["image"], train=False)
    if task == "segmentation":
      return {"loss": cs_loss.segmentation_per_image(out, batch["label"]),
              "confusion": cs_loss.confusion_counts(out, batch["label"])}
    rmse = cs_loss.rmse_per_image(out, batch["disparity"], batch["disparity_mask"])
    return {"loss": rmse, "rmse_px": rmse}
  return fn


def evaluate(params, model_state, batches, ctx):
  config = ctx.config
  fn = _per_image_fn(config.model.task, bool(config.tasks.tiny))
  variables = variables_of(config, params, model_state)
  sums, count = {}, 0.0
  for batch in batches:
    out = parallel.to_host(fn(variables, batch))
    mask = np.asarray(parallel.to_host(batch["mask"]), np.float64)
    for k, v in out.items():
      v = np.asarray(v, np.float64)
      sums[k] = sums.get(k, 0.0) + np.tensordot(mask, v, axes=(0, 0))
    count += float(mask.sum())
  result = {k: float(v / count) for k, v in sums.items() if k != "confusion"}
  if "confusion" in sums:
    result.update(segmentation.scores(sums["confusion"]))
  result["examples"] = count
  return result


def report(params, model_state, ctx) -> dict:
  from lossyless_jax import data as data_lib
  from lossyless_jax.nets import task_weights
  config = ctx.config
  split = config.eval_splits[0]
  results = evaluate(params, model_state, (ctx.shard(b) for b in data_lib.build(config.data, split)), ctx)
  path = os.path.join(ctx.workdir, WEIGHTS_FILE)
  if jax.process_index() == 0:
    task_weights.save(path, parallel.to_host(variables_of(config, params, model_state)))
  rep = {"task": config.model.task, "split": split, "weights": path, **results}
  if jax.process_index() == 0:
    metric = (f"mIoU {rep['miou']:.4f}, macro accuracy {rep['acc_macro']:.4f}" if "miou" in rep
              else f"disparity RMSE {rep['rmse_px']:.3f} px")
    print(f"Cityscapes {config.model.task} ({split}, {int(rep['examples'])} images): {metric}; "
          f"loss {rep['loss']:.4f}; weights for configs/gray_wyner_cityscapes.py: {path}")
  return rep


METHOD = methods.register(methods.Method("cityscapes_task", init, loss, evaluate, report, validate=validate))
