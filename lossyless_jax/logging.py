"""Run logging: TensorBoard (clu metric writers), `metrics.jsonl`, and a progress display.

`metrics.jsonl` holds one JSON object per line: `{"step": int, "split": str, <metric>: float}`.
On resume, lines past the restored step are dropped so that the file has no duplicated or
missing steps. Only process 0 writes files.
"""
from __future__ import annotations

import json
import os
import time

import jax

from lossyless_jax import progress


def write_json(path: str, obj) -> None:
  """Writes ``obj`` as JSON (sorted keys) to ``path`` atomically, on process 0 only."""
  if jax.process_index() == 0:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class MetricLogger:
  def __init__(self, workdir: str, resume_step: int | None = None):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    if not self.enabled:
      return
    from clu import metric_writers
    if resume_step is not None:
      truncate_jsonl(self.path, resume_step)
    self.writers = {}
    self._make = lambda split: metric_writers.create_default_writer(
        os.path.join(workdir, "tensorboard", split), asynchronous=False)

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not self.enabled:
      return
    metrics = {k: float(v) for k, v in metrics.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": int(step), "split": split, **metrics}) + "\n")
    if split not in self.writers:
      self.writers[split] = self._make(split)
    self.writers[split].write_scalars(int(step), metrics)
    self.writers[split].flush()

  def close(self) -> None:
    if self.enabled:
      for w in self.writers.values():
        w.close()


def truncate_jsonl(path: str, max_step: int) -> None:
  """Keeps the complete lines of `path` whose step is <= max_step (drops a torn last line)."""
  if not os.path.exists(path):
    return
  kept = []
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if line.endswith("\n") and record.get("step", 0) <= max_step:
        kept.append(line)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.writelines(kept)
  os.replace(tmp, path)


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class Progress:
  """A tqdm bar (steps/s, ETA, loss) on an interactive terminal, plain periodic lines otherwise;
  the same choice as the evaluation's phases (`progress.mode`, ``LOSSYLESS_PROGRESS``)."""

  def __init__(self, total: int, initial: int, interactive: bool | None = None):
    self.total, self.step = total, initial
    shown = progress.mode()
    self.enabled = shown != "off"
    interactive = shown == "bar" if interactive is None else interactive
    self.bar = None
    if self.enabled and interactive:
      from tqdm.auto import tqdm
      self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
    self._t0, self._s0 = time.time(), initial

  def update(self, step: int, metrics: dict | None = None) -> None:
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.update(step - self.step)
      if metrics:
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items() if k == "loss"})
    elif metrics is not None:
      rate = (step - self._s0) / max(time.time() - self._t0, 1e-9)
      eta = (self.total - step) / rate if rate > 0 else float("inf")
      shown = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:6])
      print(f"step {step}/{self.total}  {rate:.2f} steps/s  ETA {eta:.0f}s  {shown}", flush=True)
    self.step = step

  def write(self, text: str) -> None:
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.write(text)
    else:
      print(text, flush=True)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
