"""Orbax checkpoints of a run: `latest` every N steps and `best` by the monitored metric, verified.

A checkpoint holds the whole train state (parameters, non-trainable model state, optimizer
state, step, RNG key, non-finite flag) as a standard Orbax pytree and, as JSON, the loop's
bookkeeping: the data iterator's position, the best monitored value and the patience
counter, the metrics logged since the last log line, and whether the run finished. Saves are
synchronous and atomic (Orbax writes to a temporary directory and renames), so a run killed at
any moment resumes from the last complete checkpoint.

Integrity: after a save, process 0 writes ``<step>/digest.json``, the size and SHA-256 of every
file of the checkpoint. A restore checks it first, so a flipped byte, a truncated or deleted
file or a garbled metadata file is named (checkpoint and file) instead of surfacing as a
TensorStore error or as silently wrong parameters. A damaged checkpoint is skipped for the
newest good one, with a warning; a checkpoint without a digest (the run was killed between the
save and the digest) is skipped the same way. If checkpoints exist but none is good,
`CheckpointError` lists each with its reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

import jax
import orbax.checkpoint as ocp

from lossyless_jax import errors

DIGEST = "digest.json"
CheckpointError = errors.CheckpointError


def _manager(directory: str, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=("state", "meta"))


def _files(directory: str) -> dict:
  """``{relative path: [size, sha256]}`` of the files under ``directory`` but the digest."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, directory)
      if rel in (DIGEST, DIGEST + ".tmp"):  # (a digest torn by a kill is ignored, then rewritten)
        continue
      h = hashlib.sha256()
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          h.update(block)
      out[rel] = [os.path.getsize(path), h.hexdigest()]
  return out


def write_digest(directory: str) -> None:
  """Records the size and SHA-256 of each file of the checkpoint ``directory`` (atomically)."""
  files = _files(directory)
  tmp = os.path.join(directory, DIGEST + ".tmp")
  with open(tmp, "w") as f:
    json.dump({"algorithm": "sha256", "files": files}, f, indent=1, sort_keys=True)
  os.replace(tmp, os.path.join(directory, DIGEST))


def verify(directory: str) -> str | None:
  """None if the checkpoint ``directory`` matches its digest, else the reason (naming the file)."""
  path = os.path.join(directory, DIGEST)
  if not os.path.exists(path):
    return f"no {DIGEST} (the save did not complete)"
  try:
    with open(path) as f:
      recorded = json.load(f)["files"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    return f"{DIGEST} unreadable ({e})"
  found = _files(directory)
  for rel, (size, sha) in sorted(recorded.items()):
    if rel not in found:
      return f"{rel}: missing"
    if found[rel][0] != size:
      return f"{rel}: {found[rel][0]} bytes, expected {size} (truncated or overwritten)"
    if found[rel][1] != sha:
      return f"{rel}: contents changed since the save (SHA-256 mismatch)"
  extra = sorted(set(found) - set(recorded))
  return f"{extra[0]}: not part of the saved checkpoint" if extra else None


def _warn(message: str) -> None:
  if jax.process_index() == 0:
    print(f"warning: {message}", file=sys.stderr, flush=True)


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
    if jax.process_index() == 0:
      write_digest(os.path.join(str(manager.directory), str(step)))

  def save_latest(self, step: int, state, meta: dict) -> None:
    self._save(self.latest, step, state, meta)

  def save_best(self, step: int, state, meta: dict) -> None:
    self._save(self.best, step, state, meta)

  @staticmethod
  def _restore(manager, target, what: str):
    """The newest good checkpoint of ``manager`` (see the module docstring)."""
    failures = []
    for step in sorted(manager.all_steps(), reverse=True):
      directory = os.path.join(str(manager.directory), str(step))
      reason = verify(directory)
      if reason is None:
        try:
          out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                               meta=ocp.args.JsonRestore()))
        except Exception as e:  # pylint: disable=broad-except  (named below, then the next one is tried)
          reason = f"Orbax cannot restore it: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        else:
          if failures:
            _warn(f"{what} checkpoint: skipped " + "; ".join(failures) + f"; restored step {step} instead")
          return out["state"], dict(out["meta"])
      failures.append(f"{directory} ({reason})")
    if any("save did not complete" not in f for f in failures):
      raise CheckpointError(f"no {what} checkpoint can be restored: " + "; ".join(failures)
                            + ". Move these directories away to start the run over")
    if failures:
      _warn(f"{what} checkpoint: skipped " + "; ".join(failures) + "; starting from scratch")
    return None

  def restore_latest(self, target):
    """(state, meta) of the newest good `latest` checkpoint, laid out like `target`; None if none."""
    return self._restore(self.latest, target, "latest")

  def restore_best(self, target):
    """(state, meta) of the best good checkpoint; None if there is none (each failure is named)."""
    try:
      return self._restore(self.best, target, "best")
    except CheckpointError as e:
      _warn(f"{e}; reporting on the last parameters instead")
      return None

  def close(self) -> None:
    self.latest.close()
    self.best.close()
