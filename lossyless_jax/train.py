"""THE loop: `train_and_eval(config, workdir)`, generic over the methods of `lossyless_jax.methods`.

1. data for this host (`data.build`), a device mesh over all hosts (`parallel`);
2. `method.init` -> parameters; optax optimizer with parameter groups (`optim`);
3. one jitted train step on the global batch sharded over the `data` axis, parameters
   replicated; loss coefficients scheduled from the step inside the step; a non-finite
   loss or gradient freezes the state and stops the run with a clear message;
4. every `eval_every` steps `method.evaluate` on `config.eval_splits`; `latest` and `best`
   Orbax checkpoints; early stopping on `config.patience`; in between, every
   `eval_subset.every` steps, the same evaluation of a fixed subset for TensorBoard only;
5. at the end `method.report` writes the run's artifacts and `report.json`.

Resume is exact: rerunning the same command restores the step, optimizer state, RNG key and
the data iterator's position; a finished run only prints its report.
"""
from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from lossyless_jax import checkpoint, cpu_speed, data, methods, optim, parallel, pipelining, precision, rerun
from lossyless_jax import config as config_lib
from lossyless_jax import logging as log_lib
from lossyless_jax import provenance


# Batches laid out on the devices ahead of the step, and dispatched steps not yet waited on
# (`pipelining`): the input pipeline overlaps the step, and the host syncs only to log.
PREFETCH = 2
MAX_IN_FLIGHT = 2


class NonFiniteError(FloatingPointError):
  """The loss or a gradient became NaN/Inf; the last good checkpoint is kept."""


def make_train_step(method: methods.Method, tx: optax.GradientTransformation, config, mesh):
  """The jitted `(state, batch) -> (state, metrics)`; state stays replicated over `mesh`."""
  cpu_speed.apply()
  coefficients = optim.make_coefficients(config.coefs, config.num_steps)
  loss_fn = precision.wrap_loss(method.loss, config, method.float32_params)

  def step_fn(state, batch):
    rng, step_rng = jax.random.split(state["rng"])
    ctx = methods.StepContext(step=state["step"], coefs=coefficients(state["step"]), config=config)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (metrics, model_state)), grads = grad_fn(state["params"], state["model_state"], batch, step_rng, ctx)
    finite = jnp.isfinite(loss) & jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
    ok = finite & (state["nonfinite_step"] < 0)

    def update():
      updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
      return optax.apply_updates(state["params"], updates), model_state, opt_state

    # The optimizer runs inside one conditional, not before a `jnp.where` per leaf: XLA:CPU compiled
    # the Gray-Wyner step 3x slower that way (its predicate reduces over every gradient).
    params, model_state, opt_state = jax.lax.cond(
        ok, update, lambda: (state["params"], state["model_state"], state["opt_state"]))
    new_state = dict(
        step=state["step"] + 1,
        params=params,
        model_state=model_state,
        opt_state=opt_state,
        rng=rng,
        nonfinite_step=jnp.where(ok | (state["nonfinite_step"] >= 0), state["nonfinite_step"], state["step"]),
    )
    return new_state, {"loss": loss, **metrics, **{f"coef/{k}": v for k, v in ctx.coefs.items()}}

  replicated = NamedSharding(mesh, P())
  return jax.jit(step_fn, out_shardings=(replicated, replicated), donate_argnums=(0,))


def _summary(report: dict, workdir: str, method: methods.Method) -> str:
  """Where the run is and its table: the method's `Method.summary` (units, legend), else the
  report's scalars; the raw report stays in ``report.json``."""
  if method.summary is not None:
    table = method.summary(report, workdir)
  else:
    table = "report:\n" + "\n".join(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}"
                                     for k, v in sorted(report.items()) if not isinstance(v, (list, dict)))
  return (f"run directory: {workdir} (report.json: every result; config.json: the config; both with the "
          f"run's provenance)\n{table}")


def _window_to_json(window: list) -> dict:
  """The per-step metrics since the last log line, as JSON (float32 values round-trip exactly)."""
  if not window:
    return {}
  return {k: {"dtype": str(np.asarray(parallel.to_host(window[0][k])).dtype),
              "values": [float(parallel.to_host(m[k])) for m in window]} for k in window[0]}


def _window_from_json(saved: dict) -> list:
  if not saved:
    return []
  keys = list(saved)
  return [{k: np.asarray(saved[k]["values"][i], saved[k]["dtype"]) for k in keys}
          for i in range(len(saved[keys[0]]["values"]))]


def _print_report(workdir, step, report, method, why="run already finished"):
  if jax.process_index() == 0:
    print(f"{workdir}: {why} at step {step}; nothing to train.\n{_summary(report, workdir, method)}", flush=True)


def check(config, workdir: str | None = None) -> tuple[methods.Method, rerun.Plan]:
  """Validates the loop's fields and optimizers, then (given ``workdir``) the rerun against the
  workdir's stored config (`rerun.plan`), then the method's own fields (`Method.validate`):
  rerunning a workdir as another method names the change of method. Returns the method and the
  rerun plan."""
  config_lib.validate(config)
  optim.check(config)
  method = methods.get(config.method)
  plan = rerun.Plan() if workdir is None else rerun.plan(rerun.read_stored(workdir), config, workdir,
                                                         method.rerun_safe)
  if method.validate is not None:
    method.validate(config)
  return method, plan


def _eval_subsets(config, eval_data: dict) -> dict:
  """The first ``config.eval_subset.size`` examples of each eval split (an `data.EvalSplit` of the
  same batch size), evaluated every ``config.eval_subset.every`` steps for TensorBoard; {} when off."""
  if not config.eval_subset.every:
    return {}
  out = {}
  for split, full in eval_data.items():
    if not isinstance(full, data.EvalSplit):
      raise config_lib.ConfigError(f"config.eval_subset.every: split {split!r} of config.data.name={config.data.name!r} is "
                        "streamed, so it has no fixed subset; set config.eval_subset.every=0")
    n = min(int(config.eval_subset.size), full.num_examples)
    out[split] = data.EvalSplit({k: v[:n] for k, v in full.arrays.items()}, full.global_batch,
                                full.process_index, full.process_count)
  return out


def train_and_eval(config, workdir: str) -> dict:
  """Trains `config.method` in `workdir` (resuming if it holds a checkpoint); returns the report.

  Nothing is written before the config, the data and the workdir's stored config (`rerun.plan`)
  have been checked: a rerun with a changed config either refuses (`errors.RunMismatchError`,
  the workdir left as it was) or continues as the plan says.
  """
  method, plan = check(config, workdir)
  timer = provenance.Timer(config)  # wall time of each phase (report.json's provenance)
  method = timer.wrap(method)
  report_path = os.path.join(workdir, "report.json")
  stored_report = None
  if os.path.exists(report_path):
    with open(report_path) as f:
      stored_report = json.load(f)
    if not plan.longer and not plan.reevaluate:  # finished: read-only, nothing written
      _print_report(workdir, stored_report.get("steps"), stored_report, method)
      return stored_report
  if plan.changes and jax.process_index() == 0:
    print(f"{workdir}: rerun with changed fields ({plan.describe()})"
          + ("; training continues to the new num_steps" if plan.longer else "")
          + ("; the report is recomputed" if plan.reevaluate and stored_report is not None else ""), flush=True)

  parallel.initialize(**config.distributed.to_dict())
  mesh = parallel.make_mesh()
  pi, pc = jax.process_index(), jax.process_count()
  parallel.check_batch_size(config.data.batch_size, mesh)
  parallel.check_batch_size(config.data.eval_batch_size, mesh, "config.data.eval_batch_size")
  shard = lambda batch: parallel.shard_batch(mesh, batch)

  train_iter = data.build(config.data, "train", pi, pc)
  eval_data = {split: data.build(config.data, split, pi, pc) for split in config.eval_splits}
  subsets = _eval_subsets(config, eval_data)
  start = train_iter.state()
  init_batch = next(train_iter)  # `method.init` sees the first batch; training starts from it again
  train_iter.restore(start)

  rng, init_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  params, model_state = method.init(init_rng, init_batch, config)
  tx = optim.make_optimizer(config.optim, config.num_steps, params, method.param_labels)
  state = parallel.replicate(mesh, dict(step=np.int32(0), params=params, model_state=model_state,
                                        opt_state=tx.init(params), rng=rng, nonfinite_step=np.int32(-1)))
  os.makedirs(workdir, exist_ok=True)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint.keep, config.checkpoint.keep_best)
  meta = dict(data=train_iter.state(), best_value=None, best_step=None, evals_since_best=0, finished=False,
              window={})
  restored = ckpt.restore_latest(state)
  if restored is not None:
    state, meta = restored
    train_iter.restore(meta["data"])
  log_lib.write_json(os.path.join(workdir, "config.json"), {**config.to_dict(), provenance.KEY: provenance.record()})
  step = int(parallel.to_host(state["step"]))
  stopped_early = bool(config.patience and meta["evals_since_best"] >= config.patience)
  if plan.longer and meta["finished"] and step < config.num_steps and not stopped_early:
    meta["finished"] = False
  ctx = lambda: methods.StepContext(step=step, coefs={}, config=config, workdir=workdir, mesh=mesh, shard=shard)

  if meta["finished"] and stored_report is not None and not plan.reevaluate:
    _print_report(workdir, step, stored_report, method,
                  "run stopped early" if stopped_early else "run already finished")
    ckpt.close()
    return stored_report
  logger = log_lib.MetricLogger(workdir, resume_step=step if restored is not None else 0)

  train_step = make_train_step(method, tx, config, mesh)
  prefetched = pipelining.DevicePrefetcher(train_iter, shard, PREFETCH)
  in_flight = pipelining.InFlight(MAX_IN_FLIGHT)
  data_state = train_iter.state()  # the position after the last batch a step consumed
  progress = log_lib.Progress(config.num_steps, step)
  window = _window_from_json(meta.get("window", {}))
  sign = 1.0 if config.monitor_mode == "min" else -1.0
  split_name, metric_name = config.monitor.split("/", 1)

  def check_finite():
    bad = int(parallel.to_host(state["nonfinite_step"]))
    if bad >= 0:
      raise NonFiniteError(
          f"non-finite loss or gradient at step {bad + 1} (config.method={config.method!r}); training stopped, "
          f"parameters of step {bad} are kept and the last good checkpoint in {workdir}/checkpoints is untouched. "
          f"Lower the learning rate (config.optim.lr.value) or enable clipping (config.optim.clip_norm).")

  def evaluate(name, batches) -> dict:
    """``method.evaluate`` on ``batches`` at the current step, logged under ``name``."""
    results = method.evaluate(state["params"], state["model_state"], (shard(b) for b in batches), ctx())
    results = {k: float(v) for k, v in results.items()}
    logger.write(step, name, results)
    return results

  try:
    while not meta["finished"]:
      batch, data_state = next(prefetched)
      state, metrics = train_step(state, batch)
      in_flight.add(metrics)
      step += 1
      window.append(metrics)
      if step % config.log_every == 0 or step == config.num_steps:
        check_finite()
        stacked = parallel.to_host(jax.tree_util.tree_map(lambda *v: jnp.stack(v), *window))  # one transfer
        means = {k: float(np.mean(v)) for k, v in stacked.items()}
        window = []
        logger.write(step, "train", means)
        progress.update(step, means)
      else:
        progress.update(step)
      evaluated = step % config.eval_every == 0 or step == config.num_steps
      if subsets and not evaluated and step % config.eval_subset.every == 0:
        for split, batches in subsets.items():
          evaluate(f"{split}_subset", batches)
      if evaluated:
        check_finite()
        improved = False
        for split, batches in eval_data.items():
          results = evaluate(split, batches)
          progress.write(f"step {step} {split}: " + " ".join(f"{k}={v:.4g}" for k, v in results.items()))
          if split == split_name:
            if metric_name not in results:
              raise KeyError(f"config.monitor: {config.monitor!r} names no metric of method {config.method!r}; "
                             f"{split} metrics are: {', '.join(sorted(results))}")
            value = results[metric_name]
            improved = meta["best_value"] is None or sign * value < sign * meta["best_value"]
            if improved:
              meta.update(best_value=value, best_step=step, evals_since_best=0)
            else:
              meta["evals_since_best"] += 1
        stop = config.patience and meta["evals_since_best"] >= config.patience
        if stop:
          progress.write(f"early stopping at step {step}: {config.monitor} did not improve for {config.patience} evaluations")
        meta["finished"] = bool(step >= config.num_steps or stop)
        meta.update(data=data_state, window=_window_to_json(window))
        if improved:
          ckpt.save_best(step, state, meta)
      if evaluated or step % config.checkpoint.every == 0:
        check_finite()
        meta.update(data=data_state, window=_window_to_json(window))
        ckpt.save_latest(step, state, meta)
  finally:
    progress.close()

  if config.report_on == "best" and meta["best_step"] is not None:
    best = ckpt.restore_best(state)  # None if every best checkpoint is damaged (warned)
    state = best[0] if best is not None else state
  report = dict(method.report(state["params"], state["model_state"], ctx()))
  report.update(steps=step, best_step=meta["best_step"], best_value=meta["best_value"], monitor=config.monitor)
  report = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in report.items()}
  if any(isinstance(v, float) and not math.isfinite(v) for v in report.values()):
    progress.write("warning: the report holds non-finite values")
  report[provenance.KEY] = timer.provenance(workdir)
  log_lib.write_json(report_path, report)
  if pi == 0:
    print(_summary(report, workdir, method), flush=True)
  logger.close()
  ckpt.close()
  return report
