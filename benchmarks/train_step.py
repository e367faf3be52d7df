"""Training speed of the default configs: the bare jitted step, the whole loop, the input pipeline.

  python benchmarks/train_step.py [--case NAME ...] [--measure step,loop,pipeline[,profile]] [--compare REV]

Each case is a config (+ overrides) of this repository; one JSON line per case and measurement:

* ``step``: `train.make_train_step` of the loop on one batch already sharded onto the devices, so
  the figure is the step alone (no input pipeline, no host sync but the timer's
  `block_until_ready`): steps/s and examples/s in steady state (after `--warmup` steps, the median
  over `--repeats` timings of `--steps` steps each), compile time, peak host memory;
* ``loop``: `train.train_and_eval` itself for `--loop_steps` steps, evaluation and report
  replaced by no-ops: steady-state steps/s between its log lines (the first, which compiles, left
  out), and its ratio to the bare step (``loop_over_step``);
* ``pipeline``: batches/s the input pipeline (`data.build` for the train split, laid out on the
  devices) delivers, and its ratio to the step's consumption (``pipeline_over_step``);
* ``profile`` (not in the default): where the step's time goes, milliseconds per step by kind of
  op (convolutions, matmuls, reductions, gathers, data movement, elementwise and other) from a
  `jax.profiler` trace of `--steps` steps, each op classified from the compiled step's HLO.

`--compare REV` measures the same cases for another commit in the same run: the commit is
exported with `git archive` into a temporary folder, and each measurement runs in a fresh worker
process (this file, importing `lossyless_jax` and `configs/` from that folder or from this
checkout), alternating between the two, `--pairs` times; the JSON lines give both medians and
their ratio. One JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (config spec, overrides as dotted field -> value): the default configs that run offline
CASES = {
    "digits_vic": ("configs/digits_vic.py", {}),
    "digits_vc": ("configs/digits_vc.py", {}),
    "digits_bince": ("configs/digits_bince.py", {}),
    "banana_vic": ("configs/banana_vic.py", {}),
    "nerd_one_slope": ("configs/nerd_gaussian.py", {"loss.betas": (-1.0,)}),
    "nerd_gaussian": ("configs/nerd_gaussian.py", {}),
    "nerd_digits": ("configs/nerd_digits.py", {}),
    "gray_wyner_synthetic": ("configs/gray_wyner_synthetic.py", {}),
    "gray_wyner_digits": ("configs/gray_wyner_digits.py", {}),
    "infomax_digits_gauss": ("configs/infomax_digits_gauss.py", {}),
}
SMOKE_CASES = ("banana_vic", "nerd_one_slope")  # --smoke without --case (the test suite)
# the acceptance cases of the performance issue (the default of --compare)
COMPARE_CASES = ("digits_vic", "nerd_one_slope", "nerd_gaussian")
SMOKE_OVERRIDES = {"data.batch_size": 8, "loss.num_samples": 64}  # where the config has the field


def _set(config, dotted: str, value) -> None:
  *path, last = dotted.split(".")
  section = config
  for key in path:
    section = section[key]
  section[last] = value


def _has(config, dotted: str) -> bool:
  section = config
  for key in dotted.split("."):
    if key not in section:
      return False
    section = section[key]
  return True


def case_config(case: str, smoke: bool):
  from lossyless_jax import config as config_lib
  spec, overrides = CASES[case]
  config = config_lib.load(os.path.join(sys.path[0], spec))
  for k, v in overrides.items():
    _set(config, k, v)
  for k, v in (SMOKE_OVERRIDES if smoke else {}).items():
    if _has(config, k):
      _set(config, k, v)
  if smoke:
    config.data.eval_batch_size = 8
  config_lib.validate(config)
  return spec, overrides, config


def _peak_rss_mib() -> float:
  import resource
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _built_step(case: str, smoke: bool):
  """The case's config, its method, optimizer and jitted step (imports from `sys.path`), a fresh
  replicated state and the first training batch on the devices."""
  import jax
  import numpy as np
  from lossyless_jax import data, methods, optim, parallel, train

  spec, overrides, config = case_config(case, smoke)
  method = methods.get(config.method)
  mesh = parallel.make_mesh()
  batch = next(data.build(config.data, "train", 0, 1))
  params, model_state = method.init(jax.random.PRNGKey(0), batch, config)
  tx = optim.make_optimizer(config.optim, config.num_steps, params, method.param_labels)
  state = parallel.replicate(mesh, dict(step=np.int32(0), params=params, model_state=model_state,
                                        opt_state=tx.init(params), rng=jax.random.PRNGKey(1),
                                        nonfinite_step=np.int32(-1)))
  step_fn = train.make_train_step(method, tx, config, mesh)
  return spec, overrides, batch, step_fn, state, parallel.shard_batch(mesh, batch)


def measure(case: str, steps: int, warmup: int, repeats: int, smoke: bool = False) -> dict:
  """Steady-state steps/s of the bare jitted step, its compile time and the peak host memory."""
  import jax
  import numpy as np

  spec, overrides, batch, step_fn, state, device_batch = _built_step(case, smoke)
  t0 = time.perf_counter()
  state, metrics = step_fn(state, device_batch)
  jax.block_until_ready((state, metrics))
  compile_s = time.perf_counter() - t0
  for _ in range(warmup):
    state, metrics = step_fn(state, device_batch)
  jax.block_until_ready(state)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(steps):
      state, metrics = step_fn(state, device_batch)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - t0)
  steps_per_s = steps / float(np.median(times))
  batch_size = int(np.shape(jax.tree_util.tree_leaves(batch)[0])[0])
  return {"case": case, "config": spec, "overrides": {k: list(v) if isinstance(v, tuple) else v
                                                      for k, v in overrides.items()},
          "steps_per_s": round(steps_per_s, 2), "examples_per_s": round(steps_per_s * batch_size, 1),
          "compile_s": round(compile_s, 2), "peak_rss_mib": _peak_rss_mib(),
          "device": str(jax.devices()[0].device_kind), "devices": jax.device_count(), "jax": jax.__version__}


# the kinds of op of `measure_profile`: a fusion counts as the first of these it contains
_PROFILE_KINDS = (("convolution", "convolutions"), ("dot", "matmuls"), ("gather", "gathers"),
                  ("scatter", "gathers"), ("reduce", "reductions"), ("reduce-window", "reductions"))
_MOVES = {"pad", "slice", "concatenate", "copy", "transpose", "bitcast", "broadcast", "reshape", "dynamic-slice",
          "dynamic-update-slice", "parameter", "constant", "tuple", "get-tuple-element"}


def _op_kinds(hlo_text: str) -> dict:
  """Instruction name -> kind (`_PROFILE_KINDS`, else "data movement" or "elementwise, other") of
  an optimized HLO module's text; a fusion's kind is that of the ops in its fused computation."""
  import re
  bodies = {}
  for block in re.split(r"\n(?=%|ENTRY)", hlo_text):
    head = re.match(r"%(\S+) ", block)
    if head:
      bodies[head.group(1)] = set(re.findall(r"= \S+ ([a-z\-]+)\(", block))
  kinds = {}
  for line in hlo_text.splitlines():
    m = re.match(r"\s*(?:ROOT )?%(\S+) = \S+ ([a-z\-]+)\(", line)
    if not m:
      continue
    call = re.search(r"calls=%([^,\s]+)", line)
    ops = bodies.get(call.group(1), set()) if call and m.group(2) == "fusion" else {m.group(2)}
    kind = next((k for op, k in _PROFILE_KINDS if op in ops), None)
    kinds[m.group(1)] = kind or ("data movement" if ops <= _MOVES else "elementwise, other")
  return kinds


def measure_profile(case: str, steps: int, warmup: int, smoke: bool = False) -> dict:
  """Device time per step by kind of op: `steps` steps under `jax.profiler.trace`, each XLA op of
  the trace classified from the compiled step's HLO (`_op_kinds`). Milliseconds per step, summed
  over the threads that run ops (so the total can exceed the wall time); the trace's own overhead
  per op makes the traced wall time longer than the bare step's. An op's share bounds from above
  what removing it would save: an op that waits for the thread pool may count the wait."""
  import collections
  import glob
  import gzip
  import jax

  spec, overrides, _, step_fn, state, device_batch = _built_step(case, smoke)
  kinds = _op_kinds(step_fn.lower(state, device_batch).compile().as_text())
  for _ in range(warmup + 1):
    state, _metrics = step_fn(state, device_batch)
  jax.block_until_ready(state)
  with tempfile.TemporaryDirectory(prefix="bench_profile_") as folder:
    with jax.profiler.trace(folder):
      t0 = time.perf_counter()
      for _ in range(steps):
        state, _metrics = step_fn(state, device_batch)
      jax.block_until_ready(state)
      wall = time.perf_counter() - t0
    with gzip.open(glob.glob(os.path.join(folder, "**", "*.trace.json.gz"), recursive=True)[0]) as f:
      events = json.load(f)["traceEvents"]
  ms = collections.Counter()
  ops = 0
  for e in events:
    kind = kinds.get(e.get("name")) if e.get("ph") == "X" else None
    if kind:
      ms[kind] += e["dur"] / 1000 / steps
      ops += 1
  return {"case": case, "config": spec, "ms_per_step": {k: round(v, 3) for k, v in sorted(ms.items())},
          "op_ms_per_step": round(sum(ms.values()), 3), "ops_per_step": round(ops / steps, 1),
          "traced_wall_ms_per_step": round(wall / steps * 1000, 3), "steps": steps,
          "device": str(jax.devices()[0].device_kind), "jax": jax.__version__}


def measure_loop(case: str, steps: int, smoke: bool = False) -> dict:
  """`train.train_and_eval` for `steps` steps with no-op evaluation and report: steps/s between
  the log lines after the first (which holds the compilation)."""
  import dataclasses
  import jax
  import numpy as np
  from lossyless_jax import logging as log_lib, methods, train

  spec, _, config = case_config(case, smoke)
  method = methods.get(config.method)
  split, metric = config.monitor.split("/", 1)
  methods.register(dataclasses.replace(method, evaluate=lambda *a: {metric: 0.0}, report=lambda *a: {},
                                       **({"summary": None} if hasattr(method, "summary") else {})))
  config.num_steps = steps
  config.log_every = max(steps // 10, 1)
  config.eval_every = config.checkpoint.every = steps
  config.patience = 0
  times = []
  write = log_lib.MetricLogger.write

  def timed_write(self, step, split_name, metrics):
    if split_name == "train":
      times.append((step, time.perf_counter()))
    return write(self, step, split_name, metrics)

  log_lib.MetricLogger.write = timed_write
  with tempfile.TemporaryDirectory(prefix="bench_loop_") as workdir:
    train.train_and_eval(config, workdir)
  rates = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in zip(times[1:], times[2:])]
  return {"case": case, "config": spec, "loop_steps_per_s": round(float(np.median(rates)), 2),
          "loop_steps": steps, "peak_rss_mib": _peak_rss_mib(), "device": str(jax.devices()[0].device_kind),
          "jax": jax.__version__}


def measure_pipeline(case: str, batches: int, smoke: bool = False) -> dict:
  """Batches/s of the train input pipeline laid out on the devices (after 3 warm-up batches)."""
  import jax
  from lossyless_jax import data, parallel

  spec, _, config = case_config(case, smoke)
  mesh = parallel.make_mesh()
  iterator = data.build(config.data, "train", 0, 1)
  for _ in range(3):
    jax.block_until_ready(parallel.shard_batch(mesh, next(iterator)))
  t0 = time.perf_counter()
  for _ in range(batches):
    out = parallel.shard_batch(mesh, next(iterator))
  jax.block_until_ready(out)
  return {"case": case, "config": spec, "pipeline_batches_per_s": round(batches / (time.perf_counter() - t0), 1),
          "batch_size": int(config.data.batch_size)}


def commit_of(root: str) -> str:
  """The short commit of the checkout at `root`, with ``+dirty`` when tracked files differ from it."""
  try:
    sha = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return sha + ("+dirty" if status.strip() else "")


def export_commit(rev: str, folder: str) -> str:
  """`git archive REV` of this checkout unpacked into `folder`; returns the short commit."""
  sha = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", rev], capture_output=True, text=True)
  if sha.returncode:
    raise SystemExit(f"--compare {rev!r}: not a commit of {HERE} ({sha.stderr.strip()})")
  archive = subprocess.run(["git", "-C", HERE, "archive", rev], capture_output=True, check=True).stdout
  subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
  return sha.stdout.strip()


def run_worker(root: str, case: str, args, what: str = "step") -> dict:
  """The measurements `what` (comma list) in a fresh process importing from `root`: ``{what: row}``,
  or the row itself for one measurement."""
  cmd = [sys.executable, os.path.abspath(__file__), "--worker", root, "--case", case, "--steps", str(args.steps),
         "--warmup", str(args.warmup), "--repeats", str(args.repeats), "--loop_steps", str(args.loop_steps),
         "--measure", what] + (["--smoke"] if args.smoke else [])
  env = dict(os.environ)
  if args.devices > 1:  # simulated CPU devices: the same global batch, data-parallel
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}").strip()
  out = subprocess.run(cmd, capture_output=True, text=True, env=env)
  if out.returncode:
    raise SystemExit(f"worker for {case} at {root} failed:\n{out.stderr[-3000:]}")
  rows = json.loads(out.stdout.strip().splitlines()[-1])
  return rows if "," in what else rows[what]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--case", action="append", choices=sorted(CASES), help="case(s) to run (default: all)")
  parser.add_argument("--steps", type=int, default=200, help="steps per timing")
  parser.add_argument("--warmup", type=int, default=20, help="steps after compilation before timing")
  parser.add_argument("--repeats", type=int, default=5, help="timings per measurement (the median is reported)")
  parser.add_argument("--compare", metavar="REV", help="also measure commit REV, alternating, and print ratios")
  parser.add_argument("--pairs", type=int, default=3, help="alternating (this, REV) measurements with --compare")
  parser.add_argument("--measure", default="step,loop,pipeline",
                      help="comma list of step, loop, pipeline, profile (--compare measures the step only)")
  parser.add_argument("--loop_steps", type=int, default=600, help="steps of the loop measurement")
  parser.add_argument("--devices", type=int, default=1,
                      help="simulated CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count) for the run")
  parser.add_argument("--smoke", action="store_true", help="tiny batches and few steps (the test suite)")
  parser.add_argument("--worker", metavar="ROOT", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.smoke:
    args.steps, args.warmup, args.repeats, args.pairs, args.loop_steps = 2, 1, 1, 1, 30
  what = [w for w in args.measure.split(",") if w]
  unknown = sorted(set(what) - {"step", "loop", "pipeline", "profile"})
  if unknown:
    parser.error(f"--measure: unknown {', '.join(unknown)}; expected step, loop, pipeline, profile")
  if args.worker:
    sys.path.insert(0, args.worker)
    case = args.case[0]
    run = {"step": lambda: measure(case, args.steps, args.warmup, args.repeats, args.smoke),
           "loop": lambda: measure_loop(case, args.loop_steps, args.smoke),
           "pipeline": lambda: measure_pipeline(case, 20 if args.smoke else 200, args.smoke),
           "profile": lambda: measure_profile(case, args.steps, args.warmup, args.smoke)}
    print(json.dumps({w: run[w]() for w in what}))
    return
  head = commit_of(HERE)
  if not args.compare:
    for case in args.case or (SMOKE_CASES if args.smoke else list(CASES)):
      rows = run_worker(HERE, case, args, ",".join(what) + ",")  # one process per case
      step = rows.get("step", {}).get("steps_per_s")
      for w, row in rows.items():
        if step and w == "loop":
          row["loop_over_step"] = round(row["loop_steps_per_s"] / step, 3)
        if step and w == "pipeline":
          row["pipeline_over_step"] = round(row["pipeline_batches_per_s"] / step, 2)
        print(json.dumps({"name": f"train_{w}/{case}", "commit": head, **row,
                          **({"simulated_devices": args.devices} if args.devices > 1 else {})}), flush=True)
    return
  cases = args.case or COMPARE_CASES
  import statistics
  with tempfile.TemporaryDirectory(prefix="bench_compare_") as other:
    rev = export_commit(args.compare, other)
    for case in cases:
      this, that = [], []
      for _ in range(args.pairs):
        this.append(run_worker(HERE, case, args))
        that.append(run_worker(other, case, args))
      a = statistics.median(r["steps_per_s"] for r in this)
      b = statistics.median(r["steps_per_s"] for r in that)
      print(json.dumps({"name": f"train_step/{case}", "commit": head, "steps_per_s": a, "compare": rev,
                        "compare_steps_per_s": b, "ratio": round(a / b, 3),
                        "compile_s": this[-1]["compile_s"], "compare_compile_s": that[-1]["compile_s"],
                        "device": this[-1]["device"], "jax": this[-1]["jax"], "config": this[-1]["config"],
                        "overrides": this[-1]["overrides"], "pairs": args.pairs}), flush=True)


if __name__ == "__main__":
  main()
