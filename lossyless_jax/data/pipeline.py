"""Deterministic, resumable batch iterators for one host.

Every training iterator is infinite, yields dicts of NumPy arrays (this host's slice of the
global batch), and has `state() -> dict` / `restore(state)` so that a resumed run sees exactly
the batches it would have seen. Evaluation iterators make one pass over a split; the last
global batch is padded and every batch carries `mask` (1 for real examples, 0 for padding).
For in-memory and sampled sources the global batch does not depend on the number of hosts.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from lossyless_jax.config import ConfigError


def _host_slice(batch: dict, process_index: int, process_count: int) -> dict:
  n = next(iter(batch.values())).shape[0]
  per_host = n // process_count
  lo = process_index * per_host
  return {k: v[lo:lo + per_host] for k, v in batch.items()}


class _PositionIterator:
  """An infinite iterator whose whole state is the number of global batches it has yielded."""
  position = 0

  def state(self) -> dict:
    return {"position": self.position}

  def restore(self, state: dict) -> None:
    self.position = int(state["position"])

  def __iter__(self):
    return self


class ArrayTrainIterator(_PositionIterator):
  """Epochs of a seeded permutation of in-memory arrays; drops each epoch's remainder."""

  def __init__(self, arrays: dict, global_batch: int, seed: int, process_index: int, process_count: int):
    self.arrays, self.global_batch, self.seed = arrays, global_batch, seed
    self.process_index, self.process_count = process_index, process_count
    self.num_examples = next(iter(arrays.values())).shape[0]
    if self.num_examples < global_batch:
      raise ConfigError(f"config.data.batch_size: {global_batch} is larger than the {self.num_examples} training examples")
    self.batches_per_epoch = self.num_examples // global_batch
    self._epoch, self._perm = -1, None

  def __next__(self) -> dict:
    epoch, b = divmod(self.position, self.batches_per_epoch)
    if epoch != self._epoch:
      self._epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
    idx = self._perm[b * self.global_batch:(b + 1) * self.global_batch]
    per_host = self.global_batch // self.process_count
    idx = idx[self.process_index * per_host:(self.process_index + 1) * per_host]
    self.position += 1
    return {k: v[idx] for k, v in self.arrays.items()}


class SampledTrainIterator(_PositionIterator):
  """Global batch `i` is `sample(seed sequence (seed, i), global_batch)`; this host keeps its slice."""

  def __init__(self, sample: Callable[[np.random.Generator, int], dict], global_batch: int, seed: int,
               process_index: int, process_count: int):
    self.sample, self.global_batch, self.seed = sample, global_batch, seed
    self.process_index, self.process_count = process_index, process_count

  def __next__(self) -> dict:
    batch = self.sample(np.random.default_rng([self.seed, self.position]), self.global_batch)
    self.position += 1
    return _host_slice(batch, self.process_index, self.process_count)


def eval_batches(arrays: dict, global_batch: int, process_index: int, process_count: int) -> Iterator[dict]:
  """One ordered pass over `arrays`, padded to whole global batches, with a `mask` entry."""
  n = next(iter(arrays.values())).shape[0]
  for start in range(0, n, global_batch):
    batch = {k: v[start:start + global_batch] for k, v in arrays.items()}
    real = next(iter(batch.values())).shape[0]
    if real < global_batch:
      batch = {k: np.concatenate([v, np.zeros((global_batch - real,) + v.shape[1:], v.dtype)]) for k, v in batch.items()}
    batch["mask"] = (np.arange(global_batch) < real).astype(np.float32)
    yield _host_slice(batch, process_index, process_count)
