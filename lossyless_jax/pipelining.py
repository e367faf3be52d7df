"""Keeping the devices busy: batches prefetched onto the devices, and a bound on the steps in flight.

JAX dispatches a jitted step and returns at once, so the host can prepare batch t+1 while step t
runs, as long as nothing waits on a result. `DevicePrefetcher` keeps `size` batches already laid
out on the devices (double-buffered for `size=2`), each with the input iterator's state *after*
it, so a checkpoint records the position of the last batch a step consumed, not of the last one
prefetched: resume stays exact. `InFlight` waits on the result of the step `limit` steps back,
which bounds the queue of dispatched steps without syncing every step (XLA's CPU collectives
abort when hundreds of data-parallel steps are queued, and an unbounded queue also holds every
queued step's metrics).
"""
from __future__ import annotations

import collections
import copy
from typing import Callable, Iterator

import jax


class DevicePrefetcher:
  """Iterates ``(device batch, iterator state after it)`` over ``iterator``, ``size`` ahead."""

  def __init__(self, iterator, put: Callable, size: int = 2):
    if size < 1:
      raise ValueError(f"prefetch size must be >= 1, got {size}")
    self.iterator, self.put, self.size = iterator, put, size
    self.queue: collections.deque = collections.deque()

  def _fill(self) -> None:
    while len(self.queue) < self.size:
      batch = next(self.iterator)
      self.queue.append((self.put(batch), copy.deepcopy(self.iterator.state())))

  def __iter__(self) -> Iterator:
    return self

  def __next__(self):
    self._fill()
    item = self.queue.popleft()
    self._fill()  # the next batch's host work overlaps the step about to be dispatched
    return item


class InFlight:
  """Blocks on the outputs of the step ``limit`` steps back (``limit=0``: on every step)."""

  def __init__(self, limit: int):
    if limit < 0:
      raise ValueError(f"steps in flight must be >= 0, got {limit}")
    self.limit = limit
    self.pending: collections.deque = collections.deque()

  def add(self, outputs) -> None:
    self.pending.append(outputs)
    while len(self.pending) > self.limit:
      jax.block_until_ready(self.pending.popleft())
