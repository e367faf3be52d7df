"""Sweeps: one enumerator of runs for every executor, and the executors (local, SLURM, TPU VMs).

A sweep is a list of runs, each a config file (``configs/<name>.py[:arg]``), overrides of its fields
(dotted field -> value) and a workdir. The grid comes from the config's ``get_sweep(arg)`` (a list of
override dicts, the papers' tables) or from one field's values (``field``/``values``), crossed with
seeds (``seed`` and ``data.seed``) where the grid does not set them. Every run's workdir is derived
from its overrides only, so it is stable across re-runs and executors::

    SWEEP/[<config name>/]<field>=<value>[,<field>=<value>...]/seed=<s>

A run is finished when its workdir holds ``report.json``; executors skip finished runs, and an
interrupted run resumes from the Orbax checkpoints of its workdir (the training loop does that).
``SWEEP/runs.jsonl`` lists the runs (``Run.to_json``); ``launch/report.py`` reads it back.

Executors (``launch/sweep.py --executor=...``):

- ``local``: `run_local`, parallel worker processes, each running ``launch/main.py`` for one run;
- ``slurm``: `submit_slurm`, one submitit job-array element per run (``map_array``); the job is a
  `submitit.helpers.Checkpointable` (`SlurmRun`), so a pre-emption or time-out requeues it and the
  requeued job resumes from the run's checkpoints. Multi-node runs rely on
  ``jax.distributed.initialize()`` detecting SLURM (`lossyless_jax.parallel.initialize`).
  `sbatch_script` is the sbatch file submitit writes, for dry runs;
- ``tpu_vm``: `tpu_vm_script`, ``gcloud compute tpus tpu-vm ssh NAME --zone=Z --worker=all
  --command=...`` lines (the Cloud TPU / big_vision convention): every host of a slice runs the same
  command and ``jax.distributed`` joins them; runs spread over a list of slices, one after the other
  on each slice, the slices in parallel.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import json
import os
import shlex
import subprocess
import sys
from typing import Callable, Sequence

from lossyless_jax import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = "runs.jsonl"
REPORT = "report.json"
EXECUTORS = ("local", "slurm", "tpu_vm")
_SEED_KEYS = ("seed", "data.seed")
_MAX_NAME = 160  # longer run names are shortened with a hash (file systems cap a name at 255)


def config_name(spec: str) -> str:
  """``configs/<name>.py[:arg]`` -> ``<name>[_<arg>]`` (as `launch/common.run_name`)."""
  path, _, arg = spec.partition(":")
  return os.path.splitext(os.path.basename(path))[0] + (f"_{arg}" if arg else "")


def format_value(value) -> str:
  """A value as written in run names and on ``launch/main.py``'s command line (round-trips floats)."""
  if isinstance(value, float):
    return repr(value)
  if isinstance(value, (list, tuple)):
    return "(" + ", ".join(format_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
  return str(value)


def point_name(overrides: dict, texts: dict | None = None) -> str:
  """The workdir name of a grid point: its non-seed overrides, sorted, ``field=value`` joined by
  commas (``texts`` gives a value's text as typed on the command line); ``base`` for none."""
  texts = texts or {}
  parts = [f"{k}={texts.get(k, format_value(v))}" for k, v in sorted(overrides.items()) if k not in _SEED_KEYS]
  name = ",".join(parts).replace(os.sep, "%2F") or "base"
  if len(name) > _MAX_NAME:
    import hashlib
    name = name[:_MAX_NAME - 13] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
  return name


@dataclasses.dataclass(frozen=True)
class Run:
  """One run of a sweep: ``launch/main.py --config=<config> --config.<k>=<v>... --workdir=<workdir>``."""
  config: str
  name: str  # the config's name (the sweep's curve)
  point: str  # the grid point's name (without the seed)
  seed: int | None
  overrides: dict
  workdir: str

  def to_json(self, root: str | None = None) -> dict:
    workdir = os.path.relpath(self.workdir, root) if root and not _remote(self.workdir) else self.workdir
    return {"config": self.config, "name": self.name, "point": self.point, "seed": self.seed,
            "overrides": self.overrides, "workdir": workdir}

  def main_args(self, workdir: str | None = None) -> list[str]:
    """The arguments of ``launch/main.py`` for this run (``workdir`` replaces the run's own)."""
    return ([f"--config={self.config}"] + [f"--config.{k}={format_value(v)}" for k, v in self.overrides.items()]
            + [f"--workdir={workdir or self.workdir}"])


def _remote(path: str) -> bool:
  return "://" in path


def finished(run: Run) -> bool:
  """Whether the run's workdir holds its report (remote workdirs: never known here, the loop skips)."""
  return not _remote(run.workdir) and os.path.exists(os.path.join(run.workdir, REPORT))


def _module(spec: str):
  """The config file's module (found as `config.load` finds it)."""
  path = spec.partition(":")[0]
  found = next((p for p in ([path] if os.path.isabs(path) else [path, os.path.join(ROOT, path)]) if os.path.isfile(p)), None)
  if found is None:
    config_lib.load(spec)  # raises the ConfigError naming the path and the configs there
  module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(found))[0], found)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def config_grid(spec: str) -> list[dict]:
  """The config's ``get_sweep(arg)`` (a list of override dicts); ConfigError if it has none."""
  module = _module(spec)
  if not hasattr(module, "get_sweep"):
    raise config_lib.ConfigError(f"{spec}: the config defines no get_sweep(arg); pass --field and --values "
                                 f"to sweep one of its fields")
  arg = spec.partition(":")[2]
  grid = module.get_sweep(arg) if arg else module.get_sweep()
  if not grid or not all(isinstance(g, dict) for g in grid):
    raise config_lib.ConfigError(f"{spec}: get_sweep() must return a non-empty list of override dicts")
  return [dict(g) for g in grid]


def parse_value(text: str, old, field: str):
  """``text`` as the type of the field's current value ``old`` (a float for an unset field)."""
  if isinstance(old, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise config_lib.ConfigError(f"--values: {text!r} is not a boolean (field {field})")
    return text.lower() in ("true", "1")
  kind = type(old) if isinstance(old, (int, float, str)) else float
  try:
    return kind(text)
  except ValueError:
    raise config_lib.ConfigError(f"--values: {text!r} is not a {kind.__name__} (field {field} is "
                                 f"{old!r})") from None


def _field(config, field: str):
  node = config
  for part in field.split("."):
    node = node[part]
  return node


def apply(config, overrides: dict, where: str = ""):
  """``config`` with ``overrides`` (dotted field -> value) set; ConfigError naming an unknown field."""
  for field in overrides:
    try:
      config_lib.check_field(config, field)
    except config_lib.ConfigError as e:
      raise config_lib.ConfigError(f"{where}{e}") from None
  config.update_from_flattened_dict(dict(overrides))
  return config


def build_config(run: Run):
  """The run's config: its file loaded as ``launch/main.py`` does, with its overrides."""
  return apply(config_lib.load(run.config), run.overrides, f"{run.config}: ")


def enumerate_runs(specs: Sequence[str], workdir: str, *, field: str | None = None,
                   values: Sequence[str] | None = None, seeds: Sequence[int] = (0,)) -> list[Run]:
  """The runs of a sweep, the same for every executor.

  With ``field``/``values``: every config × value × seed, seed-major, then value, then config (an
  interrupted serial sweep holds comparable curves). Without: each config's ``get_sweep()`` grid,
  crossed with ``seeds`` where a grid point sets no seed. Configs get their own subfolder when
  there are several. Overrides are checked against the config (an unknown field is a ConfigError).
  """
  names = [config_name(s) for s in specs]
  if len(set(names)) != len(names):
    raise config_lib.ConfigError(f"--config: two configs share a run name: {names}")
  seeds = [int(s) for s in seeds]
  base = {s: config_lib.load(s) for s in specs}
  sub = (lambda n: [n]) if len(specs) > 1 else (lambda n: [])
  runs = []

  def add(spec, name, overrides, texts=None):
    seed = overrides.get("seed")
    point = point_name(overrides, texts)
    apply(base[spec].copy_and_resolve_references(), overrides, f"{spec}: {point}: ")
    parts = sub(name) + [point] + ([f"seed={seed}"] if seed is not None else [])
    runs.append(Run(spec, name, point, seed, overrides, os.path.join(workdir, *parts)))

  if values is not None:
    field = field or "coefs.rate.value"
    for spec in specs:
      try:
        config_lib.check_field(base[spec], field)
      except config_lib.ConfigError as e:
        raise config_lib.ConfigError(f"--field: {spec}: {e}") from None
    for seed in seeds:
      for text in values:
        for spec, name in zip(specs, names):
          value = parse_value(str(text), _field(base[spec], field), field)
          add(spec, name, {field: value, "seed": seed, "data.seed": seed}, {field: str(text)})
  else:
    for spec, name in zip(specs, names):
      grid = config_grid(spec)
      for seed in seeds if any("seed" not in p for p in grid) else ():
        for point in grid:
          if "seed" not in point:
            add(spec, name, {**point, "seed": seed, "data.seed": seed})
      for point in grid:  # points that set their own seed (e.g. the InfoMax σ × seed grids)
        if "seed" in point:
          add(spec, name, point)
  dirs = [r.workdir for r in runs]
  if len(set(dirs)) != len(dirs):
    dup = sorted({d for d in dirs if dirs.count(d) > 1})
    raise config_lib.ConfigError(f"two runs of the sweep share a workdir: {dup[:3]}")
  return runs


def write_manifest(runs: Sequence[Run], workdir: str) -> str:
  """``workdir/runs.jsonl``: one line per run (`Run.to_json`, workdirs relative to ``workdir``)."""
  path = os.path.join(workdir, MANIFEST)
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    for run in runs:
      f.write(json.dumps(run.to_json(workdir)) + "\n")
  return path


def read_manifest(workdir: str) -> list[Run]:
  """The runs listed in ``workdir/runs.jsonl`` (workdirs made absolute); [] without one."""
  path = os.path.join(workdir, MANIFEST)
  if not os.path.exists(path):
    return []
  runs = []
  with open(path) as f:
    for line in f:
      if line.strip():
        d = json.loads(line)
        wd = d["workdir"] if _remote(d["workdir"]) else os.path.join(workdir, d["workdir"])
        runs.append(Run(d["config"], d["name"], d["point"], d["seed"], d["overrides"], os.path.normpath(wd)))
  return runs


# ------------------------------------------------------------------------------------------------ local

def main_command(run: Run, python: str = sys.executable, workdir: str | None = None) -> list[str]:
  return [python, os.path.join(ROOT, "launch", "main.py"), *run.main_args(workdir)]


def run_local(runs: Sequence[Run], workers: int = 1, log: Callable[[str], None] = print) -> list[Run]:
  """Runs the unfinished runs as ``launch/main.py`` subprocesses, ``workers`` at a time (each one's
  output goes to ``<workdir>/sweep.log``); returns the runs that failed."""
  todo = [r for r in runs if not finished(r)]
  for r in runs:
    if r not in todo:
      log(f"{r.workdir}: already finished ({REPORT} present), skipped")
  if not todo:
    return []
  procs, failed = {}, []

  def one(run: Run) -> int:
    os.makedirs(run.workdir, exist_ok=True)
    with open(os.path.join(run.workdir, "sweep.log"), "a") as out:
      proc = subprocess.Popen(main_command(run), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
      procs[run.workdir] = proc
      return proc.wait()

  with concurrent.futures.ThreadPoolExecutor(max(1, int(workers))) as pool:
    futures = {pool.submit(one, r): r for r in todo}
    try:
      for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
        run, rc = futures[fut], fut.result()
        if rc != 0:
          failed.append(run)
        log(f"[{i}/{len(todo)}] {run.workdir}: " + ("done" if rc == 0 else f"FAILED (exit {rc}, see sweep.log)"))
    except BaseException:
      for fut in futures:
        fut.cancel()
      for proc in procs.values():
        if proc.poll() is None:
          proc.terminate()
      raise
  return failed


def run_inprocess(runs: Sequence[Run], log: Callable[[str], None] = print) -> list[dict]:
  """Runs every run serially in this process (`train.train_and_eval`, which itself returns the
  stored report of a finished run); returns the reports."""
  from lossyless_jax import train
  reports = []
  for i, run in enumerate(runs, 1):
    log(f"[{i}/{len(runs)}] {run.workdir}")
    reports.append(train.train_and_eval(build_config(run), run.workdir))
  return reports


# ------------------------------------------------------------------------------------------------ SLURM

try:  # submitit is the optional extra "sweep"
  import submitit as _submitit
  _Checkpointable = _submitit.helpers.Checkpointable
except ImportError:  # pragma: no cover - without the extra, only dry runs and the other executors
  _submitit, _Checkpointable = None, object


class SlurmRun(_Checkpointable):
  """A job-array element: trains one run in-process (``launch/main.py``'s logic). As a submitit
  ``Checkpointable`` it is requeued with the same run on pre-emption or time-out (SIGUSR2
  ``slurm_signal_delay_s`` before the end); the requeued job resumes from the run's checkpoints."""

  def __call__(self, run: dict) -> dict:
    from lossyless_jax import train
    r = Run(**run)
    if finished(r):
      with open(os.path.join(r.workdir, REPORT)) as f:
        return json.load(f)
    return train.train_and_eval(build_config(r), r.workdir)


SLURM_DEFAULTS = dict(timeout_min=240, nodes=1, tasks_per_node=1, cpus_per_task=8, gpus_per_node=None,
                      slurm_partition=None, slurm_array_parallelism=64, slurm_signal_delay_s=120)


def slurm_parameters(name: str, **overrides) -> dict:
  """submitit ``AutoExecutor.update_parameters`` keywords (`SLURM_DEFAULTS` updated, Nones dropped)."""
  unknown = set(overrides) - set(SLURM_DEFAULTS)
  if unknown:
    raise config_lib.ConfigError(f"unknown SLURM parameters {sorted(unknown)}; known: {sorted(SLURM_DEFAULTS)}")
  params = {"name": name, **SLURM_DEFAULTS, **overrides}
  return {k: v for k, v in params.items() if v is not None}


def sbatch_script(runs: Sequence[Run], folder: str, params: dict) -> str:
  """The sbatch file that `submit_slurm` has submitit submit (one array element per run), from
  submitit's own template; submitit cannot write it without submitting."""
  from submitit.slurm import slurm
  names = {"name": "job_name", "timeout_min": "time", "tasks_per_node": "ntasks_per_node",
           "slurm_partition": "partition", "slurm_array_parallelism": "array_parallelism",
           "slurm_signal_delay_s": "signal_delay_s"}
  kwargs = {names.get(k, k): v for k, v in params.items()}
  folder = os.path.join(os.path.abspath(folder), "%j")
  return slurm._make_sbatch_string(command=f"{shlex.quote(sys.executable)} -u -m submitit.core._submit "
                                   f"{shlex.quote(folder)}", folder=folder, map_count=len(runs), **kwargs)


def submit_slurm(runs: Sequence[Run], folder: str, params: dict, cluster: str | None = "slurm"):
  """Submits the unfinished runs as one job array (``cluster="local"``: submitit's local executor,
  the test path); returns (jobs, runs submitted)."""
  if _submitit is None:
    raise config_lib.ConfigError("--executor=slurm needs submitit: pip install -e '.[sweep]'")
  todo = [r for r in runs if not finished(r)]
  if not todo:
    return [], []
  executor = _submitit.AutoExecutor(folder=os.path.join(os.path.abspath(folder), "%j"), cluster=cluster)
  if executor.cluster == "local":  # the local executor takes only the generic parameters
    params = {k: v for k, v in params.items() if k in ("name", "timeout_min", "nodes", "tasks_per_node",
                                                        "cpus_per_task", "gpus_per_node")}
  executor.update_parameters(**params)
  jobs = executor.map_array(SlurmRun(), [dataclasses.asdict(r) for r in todo])
  return jobs, todo


# ------------------------------------------------------------------------------------------------ TPU VMs

def tpu_vm_script(runs: Sequence[Run], slices: Sequence[str], zone: str, *, repo_dir: str = "~/lossyless_jax",
                  python: str = "python3", project: str | None = None) -> str:
  """A bash script of ``gcloud compute tpus tpu-vm ssh`` lines, one per unfinished run.

  ``--worker=all``: every host of the slice runs the same ``launch/main.py`` command and
  ``jax.distributed.initialize()`` joins them (process 0 writes the report; give a workdir every
  host reaches: GCS or NFS). One slice: the runs use the whole slice one after the other. Several
  slices: run i goes to slice i mod n; each slice works through its runs in order, all slices at once.
  """
  if not slices or not zone:
    raise config_lib.ConfigError("--executor=tpu_vm needs --tpu=NAME[,NAME...] and --zone=ZONE")
  todo = [r for r in runs if not finished(r)]
  extra = f" --project={shlex.quote(project)}" if project else ""
  lines = ["#!/bin/bash", f"# {len(todo)} runs on {len(slices)} TPU slice(s) in {zone}; one ssh line per run",
           "set -u"]
  for k, name in enumerate(slices):
    mine = todo[k::len(slices)]
    if not mine:
      continue
    lines.append("(")
    for run in mine:
      remote = " ".join(shlex.quote(a) for a in [python, "launch/main.py", *run.main_args()])
      command = f"cd {repo_dir} && {remote}"
      lines.append(f"  gcloud compute tpus tpu-vm ssh {shlex.quote(name)} --zone={shlex.quote(zone)}{extra} "
                   f"--worker=all --command={shlex.quote(command)} || echo \"run failed: {run.point}\" >&2")
    lines.append(") &")
  lines.append("wait")
  return "\n".join(lines) + "\n"

