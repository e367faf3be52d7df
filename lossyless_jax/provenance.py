"""Where a run came from, recorded under the key ``provenance`` of ``config.json`` and ``report.json``.

`record()`: the commit (``git rev-parse HEAD`` of the checkout this package lives in, with
``dirty`` when tracked files differ from it; both None outside a git checkout), the command line,
the working directory, the versions of Python, jax, jaxlib, flax, optax, constriction and numpy,
and the devices. `Timer` adds the wall time of each phase of one invocation of
`train.train_and_eval`: ``train_s`` (from the start of the invocation to the report, setup and
compilation included, evaluations excluded), every evaluation (step, split, seconds) and
``report_s``; the report's own phases (``timings.json``) where the method writes them.

A rerun compares ``config.json`` without this key (`rerun.read_stored`), and `strip` removes it
wherever a stored config is read back as a config.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

KEY = "provenance"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "constriction", "numpy")


def _git(*args) -> str | None:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout if out.returncode == 0 else None


def commit() -> dict:
  """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding this package."""
  sha = _git("rev-parse", "HEAD")
  if sha is None:
    return {"commit": None, "dirty": None}
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {"commit": sha.strip(), "dirty": None if status is None else bool(status.strip())}


def versions() -> dict:
  """``{package: version or None}`` of `PACKAGES`, and Python's."""
  from importlib import metadata
  out = {"python": sys.version.split()[0]}
  for name in PACKAGES:
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = None
  return out


def devices() -> dict:
  """The backend, the number of devices and processes, and the kinds of device."""
  import jax
  devs = jax.devices()
  return {"backend": jax.default_backend(), "count": len(devs), "local_count": jax.local_device_count(),
          "process_count": jax.process_count(), "kinds": sorted({d.device_kind for d in devs})}


def record() -> dict:
  """Commit, command line, working directory, versions and devices (module docstring)."""
  return {**commit(), "command": [os.path.basename(sys.executable), *sys.argv], "cwd": os.getcwd(),
          "versions": versions(), "devices": devices()}


def strip(stored: dict) -> dict:
  """A stored config (``config.json``) without its provenance."""
  return {k: v for k, v in stored.items() if k != KEY}


def read_config(workdir: str):
  """The ConfigDict of ``workdir/config.json``, without its provenance."""
  import ml_collections
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {workdir} is not the workdir of a run (launch/main.py writes it)")
  with open(path) as f:
    return ml_collections.ConfigDict(strip(json.load(f)))


class Timer:
  """Wall time of the phases of one `train.train_and_eval` invocation (module docstring).

  ``method = timer.wrap(method)`` times every ``evaluate`` (named by ``ctx.step`` and, in order,
  ``config.eval_splits``) and the ``report``; `provenance` gives them with `record`.
  """

  def __init__(self, config):
    self.start = time.monotonic()
    self.splits = list(config.get("eval_splits", ()))
    self.evaluations: list[dict] = []
    self.report_started = self.report_s = None

  def wrap(self, method):
    evaluate, report = method.evaluate, method.report

    def timed_evaluate(params, model_state, batches, ctx):
      t = time.monotonic()
      out = evaluate(params, model_state, batches, ctx)
      done = [e for e in self.evaluations if e["step"] == int(ctx.step)]
      split = self.splits[len(done)] if len(done) < len(self.splits) else f"#{len(done)}"
      self.evaluations.append({"step": int(ctx.step), "split": split, "s": time.monotonic() - t})
      return out

    def timed_report(params, model_state, ctx):
      self.report_started = time.monotonic()
      out = report(params, model_state, ctx)
      self.report_s = time.monotonic() - self.report_started
      return out

    return dataclasses.replace(method, evaluate=timed_evaluate, report=timed_report)

  def phases(self, workdir: str | None = None) -> dict:
    end = self.report_started if self.report_started is not None else time.monotonic()
    evaluate_s = sum(e["s"] for e in self.evaluations)
    out = {"train_s": end - self.start - evaluate_s, "evaluate_s": evaluate_s, "evaluations": list(self.evaluations),
           "report_s": self.report_s}
    path = os.path.join(workdir, "timings.json") if workdir else None
    if path and os.path.exists(path):
      with open(path) as f:
        out["report_phases_s"] = json.load(f)
    return out

  def provenance(self, workdir: str | None = None) -> dict:
    """`record` with ``wall_time`` (`phases`)."""
    return {**record(), "wall_time": self.phases(workdir)}
