"""What a rerun of an existing workdir may change: the stored ``config.json`` against the new config.

Rerunning a workdir resumes it, so its config must be the one it was trained with. `plan` compares
the two field by field (dotted names) before anything is written and sorts each change:

* training continues: a longer ``num_steps`` (the schedules that span ``num_steps`` are recomputed
  for the new length from the current step on);
* safe: fields that do not change what is trained — logging, checkpoint and evaluation cadence,
  patience, the process layout, where the data lives; and the fields of the report — ``report_on``
  and each method's evaluation-only fields (``Method.rerun_safe``), whose change on a finished run
  recomputes the report;
* anything else (the method, a model size, the dataset, the optimizer, a seed...) raises
  `RunMismatchError`, one line that lists the changed fields and says how to start a new run.
"""
from __future__ import annotations

import dataclasses
import json
import os

from lossyless_jax import errors

# Loop fields whose change leaves the trained parameters as they are.
SAFE = ("log_every", "checkpoint.every", "checkpoint.keep", "checkpoint.keep_best", "distributed.",
        "data.data_dir", "data.eval_batch_size", "eval_every", "eval_splits", "eval_subset.", "patience")
# Loop fields that change only the report (a finished run reports again).
EVALUATION = ("report_on",)
# Loop fields added since earlier runs, with the value those runs had: absent equals this.
ADDED = {"precision": "float32", "eval_subset.every": 0, "eval_subset.size": 512}


@dataclasses.dataclass(frozen=True)
class Plan:
  """The changes of a rerun: ``(field, stored, new)`` triples, by kind."""

  changes: tuple = ()
  longer: bool = False  # num_steps grew: train on
  reevaluate: bool = False  # an evaluation field changed: a finished run reports again

  def describe(self) -> str:
    return "; ".join(f"{f}: {_show(a)} -> {_show(b)}" for f, a, b in self.changes)


def _show(value) -> str:
  return "(absent)" if value is _ABSENT else repr(value)


_ABSENT = object()


def flatten(tree: dict, prefix: str = "") -> dict:
  """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists kept as values)."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict) and value:
      out.update(flatten(value, name + "."))
    else:
      out[name] = value
  return out


def as_json(config) -> dict:
  """The config as ``config.json`` stores it (tuples become lists)."""
  return json.loads(json.dumps(config.to_dict(), sort_keys=True))


def read_stored(workdir: str) -> dict | None:
  """The config a workdir was run with; None when it holds none."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      stored = json.load(f)
  except (OSError, ValueError) as e:
    raise errors.RunMismatchError(f"{path}: unreadable ({e}); the workdir's run cannot be checked against "
                                  "this config. Pass another --workdir to start a new run") from None
  if not isinstance(stored, dict):
    raise errors.RunMismatchError(f"{path}: expected a JSON object; pass another --workdir to start a new run")
  from lossyless_jax import provenance
  return provenance.strip(stored)  # where the run came from is no part of its config


def _matches(field: str, prefixes) -> bool:
  return any(field == p or (p.endswith((".", "_")) and field.startswith(p)) for p in prefixes)


def plan(stored: dict | None, config, workdir: str, method_safe=()) -> Plan:
  """Sorts the changes from ``stored`` to ``config`` (see the module docstring); raises
  `RunMismatchError` naming every field that may not change."""
  if stored is None:
    return Plan()
  old, new = {**ADDED, **flatten(stored)}, flatten(as_json(config))
  changes = tuple((f, old.get(f, _ABSENT), new.get(f, _ABSENT)) for f in sorted(set(old) | set(new))
                  if old.get(f, _ABSENT) != new.get(f, _ABSENT))
  refused = [c for c in changes if not _matches(c[0], SAFE + EVALUATION + tuple(method_safe)) and c[0] != "num_steps"]
  if refused:
    listed = Plan(tuple(refused)).describe()
    raise errors.RunMismatchError(
        f"{workdir} holds a run of another config ({listed}); rerunning it there would mix two runs. "
        f"Pass a new --workdir to start a new run, or rerun with the stored config ({workdir}/config.json)")
  steps = [c for c in changes if c[0] == "num_steps"]
  if steps and steps[0][2] < steps[0][1]:
    raise errors.RunMismatchError(
        f"{workdir}: num_steps {steps[0][1]} -> {steps[0][2]}: a run cannot be shortened (its schedules and "
        "checkpoints are those of the longer run). Pass a new --workdir to start a new run")
  return Plan(changes, longer=bool(steps),
              reevaluate=any(_matches(f, EVALUATION + tuple(method_safe)) for f, _, _ in changes))
