"""Sweeps: `python launch/sweep.py --config=C.py[:arg] [--values=V1,V2 [--field=F]] [--seeds=0,1] --workdir=DIR
[--executor=local|slurm|tpu_vm] [--dry_run]`.

The runs (`lossyless_jax.sweeps.enumerate_runs`, the same for every executor): without --values, the
config's `get_sweep(arg)` grid (the paper's table); with --values, every value of --field (λ on the
rate by default); each crossed with --seeds where the grid sets no seed, over every --config (repeat
it or comma-separate). Run workdirs derive from the overrides:
`DIR/[<config name>/]<field>=<value>[,...]/seed=<s>`; `DIR/runs.jsonl` lists them. A re-run skips
finished runs (report.json present) and resumes interrupted ones from their checkpoints.

Executors:
- `local` (default): `--workers` processes at a time, each running `launch/main.py` for one run
  (output in `<run>/sweep.log`); then writes the summary: `DIR/sweep.json` and `DIR/rd_curve.png`
  (AURD per config, mean ± s.e. over seeds; Gray-Wyner BD-rates and the Rt / Rr panels) or
  `DIR/infomax_sweep.{json,png}` (`lossyless_jax.evaluation.sweep_report`). `--workers=0` trains
  in this process, one run after the other.
- `slurm`: one submitit job array, one element per run, requeued on pre-emption and time-out
  (`--slurm_*` flags; `--slurm_cluster=local` runs the array with submitit's local executor).
  `--dry_run` prints the sbatch script and the runs.
- `tpu_vm`: `gcloud compute tpus tpu-vm ssh NAME --zone=Z --worker=all --command=...` per run, on
  `--tpu=NAME` (every host of the slice runs it, joined by `jax.distributed`) or spread over
  `--tpu=A,B,...` (many single-host runs); written to `DIR/tpu_vm.sh` (`./<name>/tpu_vm.sh` for a
  `gs://.../<name>` DIR) and run. `--dry_run` prints it.

`launch/report.py DIR` turns any sweep's finished runs into the tables and the papers' plots.
A Gray-Wyner sweep over codecs lists one config per codec:
`--config=configs/gray_wyner_synthetic.py:shared,1.5 --config=configs/gray_wyner_synthetic.py:joint`.
"""
import os
import subprocess

from absl import app, flags

import common
from lossyless_jax import config as config_lib
from lossyless_jax import sweeps
from lossyless_jax.evaluation import sweep_report

_CONFIG = flags.DEFINE_multi_string("config", None, "Config file(s) configs/<name>.py[:arg]; repeat or comma-separate.")
_VALUES = flags.DEFINE_list("values", None, "Values of --field to sweep, e.g. 0.01,0.1,1 (default: the config's get_sweep()).")
_FIELD = flags.DEFINE_string("field", "coefs.rate.value", "Dotted config field that --values sets (default λ on the rate).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (config.seed and config.data.seed) for grid points that set none.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory (runs, runs.jsonl, summary).")
_EXECUTOR = flags.DEFINE_enum("executor", "local", list(sweeps.EXECUTORS), "Where the runs go.")
_WORKERS = flags.DEFINE_integer("workers", 1, "local: runs at a time (0: serially in this process).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the runs (and the sbatch script / gcloud lines); run nothing.")
_SLURM_CLUSTER = flags.DEFINE_enum("slurm_cluster", "slurm", ["slurm", "local", "auto"],
                                   "slurm: submitit's cluster (local: its local executor; auto: slurm if sbatch exists).")
_SLURM_PARTITION = flags.DEFINE_string("slurm_partition", None, "slurm: partition.")
_SLURM_TIME = flags.DEFINE_integer("slurm_timeout_min", sweeps.SLURM_DEFAULTS["timeout_min"], "slurm: time limit of one element, minutes.")
_SLURM_NODES = flags.DEFINE_integer("slurm_nodes", 1, "slurm: nodes per run (multi-node: jax.distributed detects SLURM).")
_SLURM_TASKS = flags.DEFINE_integer("slurm_tasks_per_node", 1, "slurm: tasks (JAX processes) per node.")
_SLURM_GPUS = flags.DEFINE_integer("slurm_gpus_per_node", None, "slurm: GPUs per node.")
_SLURM_CPUS = flags.DEFINE_integer("slurm_cpus_per_task", sweeps.SLURM_DEFAULTS["cpus_per_task"], "slurm: CPUs per task.")
_SLURM_PARALLEL = flags.DEFINE_integer("slurm_array_parallelism", sweeps.SLURM_DEFAULTS["slurm_array_parallelism"],
                                       "slurm: array elements running at once.")
_TPU = flags.DEFINE_list("tpu", None, "tpu_vm: TPU VM / pod slice name(s).")
_ZONE = flags.DEFINE_string("zone", None, "tpu_vm: the slices' zone.")
_TPU_PROJECT = flags.DEFINE_string("tpu_project", None, "tpu_vm: GCP project (default: gcloud's).")
_TPU_REPO = flags.DEFINE_string("tpu_repo_dir", "~/lossyless_jax", "tpu_vm: the repository's path on the hosts.")
_TPU_PYTHON = flags.DEFINE_string("tpu_python", "python3", "tpu_vm: the hosts' Python.")
flags.mark_flags_as_required(["config", "workdir"])

# the summaries live in lossyless_jax.evaluation.sweep_report (shared with launch/report.py)
gray_wyner_summary, gray_wyner_table = sweep_report.gray_wyner_summary, sweep_report.gray_wyner_table


def split_configs(items: list[str]) -> list[str]:
  """``--config`` values split at the commas that start another config file (a config's own arg
  may hold commas: ``configs/gray_wyner_synthetic.py:shared,1.5``)."""
  paths = []
  for item in items:
    for piece in item.split(","):
      if paths and piece and ".py" not in piece:
        paths[-1] += "," + piece  # part of the previous config's arg
      elif piece:
        paths.append(piece)
  return paths


def run_config(path: str, field: str, value: str, seed: int):
  """The config of one run: `path` loaded as launch/main.py does, `field` = `value`, seeds = `seed`."""
  (run,) = sweeps.enumerate_runs([path], "", field=field, values=[value], seeds=[seed])
  return sweeps.build_config(run)


def summarize_runs(runs, workdir: str, **extra):
  """The sweep's summary (`sweep_report.sweep_summary`) from the finished runs' workdirs."""
  mine = {os.path.normpath(r.workdir) for r in runs}
  entries = [e for e in sweep_report.collect([workdir]) if os.path.normpath(e.workdir) in mine]
  kinds = {sweep_report.kind(e.report) for e in entries}
  if not entries or not kinds <= {"rd", "gray_wyner", "infomax"}:
    print(f"{len(entries)} finished runs; tables and plots: python launch/report.py {workdir}", flush=True)
    return None
  return sweep_report.sweep_summary(entries, workdir, log=lambda s: print(s, flush=True), **extra)


def summary_fields(runs, field: str, values) -> dict:
  """What the summary records about the grid: the swept field and values (None for a config's
  `get_sweep()`) and the seeds the runs use (a grid's own seeds, not only ``--seeds``)."""
  return dict(field=field if values is not None else None, values=values,
              seeds=sorted({r.seed for r in runs if r.seed is not None}))


def sweep(paths: list[str], values, field: str, seeds: list[int], workdir: str, workers: int = 0):
  """Runs (or resumes) the sweep on this machine and writes its summary in `workdir`
  (`workers=0`: in this process)."""
  runs = sweeps.enumerate_runs(paths, workdir, field=field, values=values, seeds=seeds)
  sweeps.write_manifest(runs, workdir)
  log = lambda s: print(s, flush=True)
  extra = summary_fields(runs, field, values)
  if workers == 0:
    reports = sweeps.run_inprocess(runs, log)
    entries = [sweep_report.Entry(r.name, r.point, r.seed, r.workdir, rep, sweeps.build_config(r).to_dict())
               for r, rep in zip(runs, reports)]
    return sweep_report.sweep_summary(entries, workdir, log=log, **extra)
  failed = sweeps.run_local(runs, workers, log)
  result = summarize_runs(runs, workdir, **extra)
  if failed:
    raise RuntimeError(f"{len(failed)} of {len(runs)} runs failed: " + ", ".join(
      os.path.join(r.workdir, "sweep.log") for r in failed[:5]))
  return result


def _print_runs(runs) -> None:
  for i, run in enumerate(runs):
    state = "finished" if sweeps.finished(run) else "to run"
    print(f"[{i}] {state}: {' '.join(run.main_args())}")


def main(argv):
  common.quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  paths = split_configs(_CONFIG.value)
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError:
    raise config_lib.ConfigError(f"--seeds: {','.join(_SEEDS.value)}; expected integers") from None
  if _VALUES.value is None and flags.FLAGS["field"].present:
    raise config_lib.ConfigError("--field needs --values (without them the config's get_sweep() gives the grid)")
  workdir = _WORKDIR.value if "://" in _WORKDIR.value else os.path.abspath(_WORKDIR.value)
  runs = sweeps.enumerate_runs(paths, workdir, field=_FIELD.value, values=_VALUES.value, seeds=seeds)
  from lossyless_jax import train
  for run in runs:  # every run's config is checked before anything runs or is written
    train.check(sweeps.build_config(run))
  executor, extra = _EXECUTOR.value, summary_fields(runs, _FIELD.value, _VALUES.value)
  if executor == "local":
    if _DRY_RUN.value:
      return _print_runs(runs)
    sweep(paths, _VALUES.value, _FIELD.value, seeds, workdir, workers=_WORKERS.value)
  elif executor == "slurm":
    params = sweeps.slurm_parameters(
      "sweep_" + os.path.basename(workdir.rstrip("/")), timeout_min=_SLURM_TIME.value, nodes=_SLURM_NODES.value,
      tasks_per_node=_SLURM_TASKS.value, cpus_per_task=_SLURM_CPUS.value, gpus_per_node=_SLURM_GPUS.value,
      slurm_partition=_SLURM_PARTITION.value, slurm_array_parallelism=_SLURM_PARALLEL.value)
    folder = os.path.join(workdir, "submitit")
    todo = [r for r in runs if not sweeps.finished(r)]
    if _DRY_RUN.value:
      print(sweeps.sbatch_script(todo, folder, params))
      return _print_runs(todo)
    sweeps.write_manifest(runs, workdir)
    jobs, todo = sweeps.submit_slurm(runs, folder, params, cluster=None if _SLURM_CLUSTER.value == "auto" else _SLURM_CLUSTER.value)
    print(f"{len(runs) - len(todo)} runs already finished; submitted {len(todo)}" +
          (f" as job array {jobs[0].job_id.split('_')[0]}" if jobs else ""), flush=True)
    if jobs and _SLURM_CLUSTER.value == "local":
      [job.result() for job in jobs]
      summarize_runs(runs, workdir, **extra)
    else:
      print(f"when they are done: python launch/report.py {workdir}", flush=True)
  else:
    script = sweeps.tpu_vm_script(runs, _TPU.value or [], _ZONE.value, repo_dir=_TPU_REPO.value,
                                  python=_TPU_PYTHON.value, project=_TPU_PROJECT.value)
    if _DRY_RUN.value:
      print(script, end="")
      return None
    local = workdir if "://" not in workdir else os.path.abspath(os.path.basename(workdir.rstrip("/")))
    sweeps.write_manifest(runs, local)
    path = os.path.join(local, "tpu_vm.sh")
    with open(path, "w") as f:
      f.write(script)
    print(f"{path}: {script.count('gcloud ')} runs", flush=True)
    subprocess.run(["bash", path], check=True)
    print(f"then: python launch/report.py {workdir}" + ("  (copy the runs from the bucket first)" if "://" in workdir else ""))
  return None


if __name__ == "__main__":
  common.run(main, __doc__)
