"""Orbax checkpoints of a run: `latest` every N steps and `best` by the monitored metric.

A checkpoint holds the whole train state (parameters, non-trainable model state, optimizer
state, step, RNG key, non-finite flag) as a standard Orbax pytree and, as JSON, the loop's
bookkeeping: the data iterator's position, the best monitored value and the patience
counter, and whether the run finished. Saves are synchronous and atomic (Orbax writes to a
temporary directory and renames), so a run killed at any moment resumes from the last
complete checkpoint.
"""
from __future__ import annotations

import os

import orbax.checkpoint as ocp


def _manager(directory: str, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=("state", "meta"))


class Checkpointer:
  """`latest/` keeps the last `keep` checkpoints; `best/` the last `keep_best` improvements."""

  def __init__(self, workdir: str, keep: int, keep_best: int):
    self.latest = _manager(os.path.join(workdir, "checkpoints", "latest"), keep)
    self.best = _manager(os.path.join(workdir, "checkpoints", "best"), keep_best)

  @staticmethod
  def _save(manager, step: int, state, meta: dict) -> None:
    if step in manager.all_steps():  # a finished run re-saving its last step with new bookkeeping
      manager.delete(step)
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    manager.wait_until_finished()

  def save_latest(self, step: int, state, meta: dict) -> None:
    self._save(self.latest, step, state, meta)

  def save_best(self, step: int, state, meta: dict) -> None:
    self._save(self.best, step, state, meta)

  @staticmethod
  def _restore(manager, target):
    step = manager.latest_step()
    if step is None:
      return None
    out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out["state"], dict(out["meta"])

  def restore_latest(self, target):
    """(state, meta) of the newest complete `latest` checkpoint, laid out like `target`; None if none."""
    return self._restore(self.latest, target)

  def restore_best(self, target):
    """(state, meta) of the best checkpoint so far; None if no evaluation improved yet."""
    return self._restore(self.best, target)

  def close(self) -> None:
    self.latest.close()
    self.best.close()
