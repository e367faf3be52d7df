"""Prints max relative differences between one train step on 8 devices and on 1 device.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=8. The loss is NT-Xent with in-batch
negatives (every example's loss depends on the whole global batch).
"""
import json
import os
import sys

import jax
import numpy as np
from jax.sharding import Mesh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loop_method  # noqa: E402
from lossyless_jax import data, methods, optim, parallel, train  # noqa: E402

assert jax.device_count() == 8, jax.devices()
config = loop_method.get_config(**{"data.batch_size": 64})
method = methods.get(config.method)
batch = next(data.build(config.data, "train"))
params, model_state = method.init(jax.random.PRNGKey(0), batch, config)
tx = optim.make_optimizer(config.optim, config.num_steps, params)
host_state = dict(step=np.int32(0), params=params, model_state=model_state, opt_state=tx.init(params),
                  rng=jax.random.PRNGKey(1), nonfinite_step=np.int32(-1))


def one_step(mesh):
  state = parallel.replicate(mesh, host_state)
  sharded = parallel.shard_batch(mesh, batch)
  ctx = methods.StepContext(step=0, coefs={}, config=config)
  grad_fn = jax.jit(jax.value_and_grad(lambda p: method.loss(p, {}, sharded, jax.random.PRNGKey(2), ctx)[0]))
  loss, grads = grad_fn(state["params"])
  new_state, _ = train.make_train_step(method, tx, config, mesh)(state, sharded)
  shards = len(sharded["image"].addressable_shards)
  return shards, parallel.to_host(dict(loss=loss, grads=grads, params=new_state["params"]))


n8, many = one_step(Mesh(np.asarray(jax.devices()), ("data",)))
n1, one = one_step(Mesh(np.asarray(jax.devices()[:1]), ("data",)))
rel = lambda a, b: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
diffs = {k: max(rel(a, b) for a, b in zip(jax.tree_util.tree_leaves(many[k]), jax.tree_util.tree_leaves(one[k])))
         for k in ("loss", "grads", "params")}
print(json.dumps({"shards_8": n8, "shards_1": n1, "loss": float(one["loss"]), **{f"rel_{k}": v for k, v in diffs.items()}}))
