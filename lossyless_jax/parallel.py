"""Device mesh, batch sharding and multi-host start-up.

Data parallelism is one `jax.jit` over a `Mesh` with a `data` axis spanning every device of
every host: the global batch is laid out with `NamedSharding(mesh, P('data'))`, each host
contributing its slice, parameters are replicated, and XLA inserts the collectives. A loss
written for one device (including losses that couple examples, such as InfoNCE) is therefore
the same loss on 1 or 512 devices.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lossyless_jax.config import ConfigError

DATA_AXIS = "data"


def _multiprocess_environment() -> bool:
  env = os.environ
  slurm = int(env.get("SLURM_NTASKS", "1")) > 1
  tpu_pod = "TPU_WORKER_HOSTNAMES" in env and "," in env.get("TPU_WORKER_HOSTNAMES", "")
  return slurm or tpu_pod or "JAX_COORDINATOR_ADDRESS" in env


def initialize(coordinator_address=None, num_processes=None, process_id=None) -> None:
  """Starts `jax.distributed` when running as several processes; a no-op for one process.

  Explicit arguments (local multi-process runs, tests) take precedence; otherwise JAX's own
  cluster detection is used on SLURM and TPU pods. CPU processes use gloo collectives.
  """
  explicit = coordinator_address is not None
  if not explicit and not _multiprocess_environment():
    return
  if jax.distributed.is_initialized():
    return
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (AttributeError, ValueError):  # option removed once gloo became the default
    pass
  if explicit:
    if num_processes is None or process_id is None:
      raise ConfigError("config.distributed: coordinator_address needs num_processes and process_id too")
    jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()


def make_mesh() -> Mesh:
  """A 1-D mesh over all devices of all hosts, axis `data`."""
  return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def check_batch_size(global_batch: int, mesh: Mesh, where: str = "config.data.batch_size") -> int:
  """The per-host batch size; raises if the global batch does not split over devices."""
  n = mesh.devices.size
  if global_batch % n:
    raise ValueError(f"{where}: {global_batch} is not divisible by the {n} devices of the mesh")
  return global_batch // jax.process_count()


def shard_batch(mesh: Mesh, host_batch):
  """Lays this host's slice of the global batch (a pytree of NumPy arrays) over the mesh."""
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  return jax.tree_util.tree_map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), host_batch)


def replicate(mesh: Mesh, tree):
  """Puts identical host values on every device (parameters, optimizer state)."""
  sharding = NamedSharding(mesh, P())

  def put(x):
    host = np.asarray(x)  # a host copy: the train step donates its input, so no buffer may be shared
    if jax.process_count() == 1:
      return jax.device_put(host, sharding)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

  return jax.tree_util.tree_map(put, tree)


def to_host(tree):
  """NumPy copies on every host: replicated arrays as they are, batch-sharded arrays gathered whole."""
  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      if x.sharding.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
      from jax.experimental import multihost_utils
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
  return jax.tree_util.tree_map(get, tree)
