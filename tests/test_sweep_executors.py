"""launch/sweep.py's executors on one enumerator (`lossyless_jax.sweeps`): stable run workdirs from
the overrides, the configs' `get_sweep()` grids, the slurm and tpu_vm dry runs (`bash -n`, one array
element or gcloud line per run), submitit's local executor end to end, and a local sweep killed with
SIGKILL and resumed (issue 17, acceptance 2 and 3), on the loop tests' tiny contrastive config."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, launch_module
from lossyless_jax import config as config_lib
from lossyless_jax import sweeps

TINY = "tests/configs/contrastive.py"
GRID = ["--field=loss.noise", "--values=0.1,0.2", "--seeds=0,1"]  # the 2 × 2 sweep
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")


def _runs(workdir):
  return sweeps.enumerate_runs([TINY], str(workdir), field="loss.noise", values=["0.1", "0.2"], seeds=[0, 1])


def test_enumerator_names_runs_by_their_overrides(tmp_path):
  runs = _runs(tmp_path)
  assert [os.path.relpath(r.workdir, tmp_path) for r in runs] == [
    "loss.noise=0.1/seed=0", "loss.noise=0.2/seed=0", "loss.noise=0.1/seed=1", "loss.noise=0.2/seed=1"]
  assert runs == _runs(tmp_path)  # stable
  assert runs[1].overrides == {"loss.noise": 0.2, "seed": 0, "data.seed": 0}
  assert runs[1].main_args() == [f"--config={TINY}", "--config.loss.noise=0.2", "--config.seed=0",
                                 "--config.data.seed=0", f"--workdir={runs[1].workdir}"]
  config = sweeps.build_config(runs[3])
  assert (config.loss.noise, config.seed, config.data.seed) == (0.2, 1, 1)
  sweeps.write_manifest(runs, str(tmp_path))
  assert sweeps.read_manifest(str(tmp_path)) == runs


def test_get_sweep_grids_become_runs(tmp_path):
  runs = sweeps.enumerate_runs(["configs/infomax_digits_gauss.py"], str(tmp_path), seeds=[0, 1])
  module = sweeps._module("configs/infomax_digits_gauss.py")
  assert len(runs) == len(module.get_sweep())  # the grid sets its own seeds: --seeds does not cross it
  assert os.path.relpath(runs[0].workdir, tmp_path) == "loss.sigma=0.0/seed=0"
  sweep_cli = launch_module("sweep")  # the summary records the grid's own seeds, not --seeds
  assert sweep_cli.summary_fields(runs, None, None) == dict(field=None, values=None, seeds=list(module.SEEDS))
  assert sweep_cli.summary_fields(_runs(tmp_path), "loss.noise", ["0.1", "0.2"])["seeds"] == [0, 1]
  banana = sweeps.enumerate_runs(["configs/banana_vic.py", "configs/banana_vc.py"], str(tmp_path))
  assert len(banana) == 2 * 9 * 5  # Fig. 5: 9 λ × 5 seeds per config, each config in its own folder
  assert os.path.relpath(banana[0].workdir, tmp_path) == "banana_vic/coefs.rate.value=1e-05/seed=0"
  gw = sweeps.enumerate_runs(["configs/gray_wyner_synthetic.py:shared,1.5"], str(tmp_path), seeds=[0, 3])
  assert len(gw) == 2 * 15 and gw[-1].seed == 3 and "loss.beta=2.0,loss.eta=1.0,model.codec=shared" in gw[-1].workdir


def test_errors_name_what_is_wrong(tmp_path, monkeypatch):
  with pytest.raises(config_lib.ConfigError, match=r"nerd_digits.py: the config defines no get_sweep"):
    sweeps.enumerate_runs(["configs/nerd_digits.py"], str(tmp_path))
  with pytest.raises(config_lib.ConfigError, match=r"--field: .*contrastive.py: config.loss.nope: unknown field"):
    sweeps.enumerate_runs([TINY], str(tmp_path), field="loss.nope", values=["1"])
  monkeypatch.setattr(sweeps, "config_grid", lambda spec: [{"loss.noisee": 0.1}])  # a grid with a typo
  with pytest.raises(config_lib.ConfigError, match=r"contrastive.py: loss.noisee=0.1: config.loss.noisee: unknown field"):
    sweeps.enumerate_runs([TINY], str(tmp_path))


def test_slurm_dry_run_is_one_array_element_per_run(tmp_path):
  runs = _runs(tmp_path / "sweep")
  params = sweeps.slurm_parameters("sweep_tiny", slurm_partition="gpu", gpus_per_node=1, timeout_min=30,
                                   slurm_array_parallelism=2)
  script = sweeps.sbatch_script(runs, str(tmp_path / "sweep" / "submitit"), params)
  path = tmp_path / "sweep.sbatch"
  path.write_text(script)
  subprocess.run(["bash", "-n", str(path)], check=True)
  lines = script.splitlines()
  assert "#SBATCH --array=0-3%2" in lines  # 4 runs, one element each, 2 at a time
  assert "#SBATCH --signal=USR2@120" in lines and "#SBATCH --partition=gpu" in lines  # requeue signal
  assert "#SBATCH --gpus-per-node=1" in lines and "#SBATCH --time=30" in lines
  assert "submitit.core._submit" in lines[-1] and lines[-1].startswith("srun ")
  with pytest.raises(config_lib.ConfigError, match="unknown SLURM parameters.*'gpus'"):
    sweeps.slurm_parameters("x", gpus=1)


def test_slurm_dry_run_is_what_submitit_submits(tmp_path, monkeypatch):
  """With an `srun` on PATH, submitit's own SlurmExecutor writes the same sbatch file for the array."""
  (tmp_path / "bin").mkdir()
  (tmp_path / "bin" / "srun").write_text("#!/bin/sh\n")
  (tmp_path / "bin" / "srun").chmod(0o755)
  monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
  import submitit
  runs, folder = _runs(tmp_path / "sweep"), str(tmp_path / "sweep" / "submitit")
  params = sweeps.slurm_parameters("sweep_tiny", slurm_partition="gpu", gpus_per_node=2, nodes=2, tasks_per_node=2)
  executor = submitit.AutoExecutor(folder=os.path.join(folder, "%j"), cluster="slurm")
  executor.update_parameters(**params)
  inner = executor._executor
  inner.parameters["map_count"] = len(runs)  # what map_array sets
  assert inner._make_submission_file_text(inner._submitit_command_str, "uid") == sweeps.sbatch_script(runs, folder, params)


def test_requeue_resubmits_the_same_run():
  run = {"config": TINY, "name": "contrastive", "point": "p", "seed": 0, "overrides": {}, "workdir": "/w"}
  delayed = sweeps.SlurmRun().checkpoint(run)  # called by submitit on pre-emption or time-out
  assert delayed.args == (run,) and isinstance(delayed.function, sweeps.SlurmRun)


def _gcloud(script):
  return [l.strip() for l in script.splitlines() if l.strip().startswith("gcloud ")]


def test_tpu_vm_dry_run_through_the_cli(python, tmp_path):
  base = ["launch/sweep.py", f"--config={TINY}", *GRID, "--workdir=gs://bucket/sweep", "--executor=tpu_vm",
          "--zone=us-central2-b", "--dry_run"]
  one = python(base + ["--tpu=pod-a"]).stdout  # one pod slice: every run on all its hosts, in turn
  many = sweeps.tpu_vm_script(_runs("gs://bucket/sweep"), ["v5e-a", "v5e-b"], "us-central2-b")
  for script, slices in ((one, 1), (many, 2)):
    path = tmp_path / f"tpu{slices}.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    lines = _gcloud(script)
    assert len(lines) == 4 and all("--zone=us-central2-b --worker=all --command=" in l for l in lines)
    assert script.count("(\n") == slices and script.rstrip().endswith("wait")
  for run, line in zip(_runs("gs://bucket/sweep"), _gcloud(one)):
    assert line.startswith("gcloud compute tpus tpu-vm ssh pod-a ")
    assert f"--workdir={run.workdir}" in line and "--config.loss.noise=" in line and "cd ~/lossyless_jax && python3 launch/main.py" in line
  assert [l.split()[5] for l in _gcloud(many)] == ["v5e-a", "v5e-a", "v5e-b", "v5e-b"]
  bad = python(base[:-2] + ["--executor=pbs"], check=False)
  assert bad.returncode == 2 and "executor" in bad.stderr and "local|slurm|tpu_vm" in bad.stderr


def test_submitit_local_executor_runs_a_two_run_sweep(tmp_path):
  runs = sweeps.enumerate_runs([TINY], str(tmp_path), field="loss.noise", values=["0.1", "0.2"], seeds=[0])
  params = sweeps.slurm_parameters("tiny", timeout_min=10, cpus_per_task=1)
  jobs, submitted = sweeps.submit_slurm(runs, str(tmp_path / "submitit"), params, cluster="local")
  assert len(jobs) == 2 and submitted == runs
  reports = [job.result() for job in jobs]
  for run, report in zip(runs, reports):
    with open(os.path.join(run.workdir, "report.json")) as f:
      assert json.load(f) == report and report["steps"] == 12
    with open(os.path.join(run.workdir, "config.json")) as f:
      assert json.load(f)["loss"]["noise"] == run.overrides["loss.noise"]
  assert sweeps.submit_slurm(runs, str(tmp_path / "submitit"), params, cluster="local") == ([], [])  # all finished


def _checkpointed(run):
  return bool(glob.glob(os.path.join(run.workdir, "checkpoints", "*", "*")))


def test_local_workers_skip_finished_runs_and_name_failures(tmp_path, monkeypatch):
  """The worker pool on a stand-in for launch/main.py (a one-line script per run, no training)."""
  runs = _runs(tmp_path)
  os.makedirs(runs[0].workdir)
  with open(os.path.join(runs[0].workdir, "report.json"), "w") as f:
    f.write("{}")
  fake = ("import json, os, sys, time; w = sys.argv[-1].split('=', 1)[1]; time.sleep(1.0); "
          "sys.exit(3) if 'noise=0.2' in w and 'seed=1' in w else json.dump({'ok': 1}, open(os.path.join(w, 'report.json'), 'w'))")
  monkeypatch.setattr(sweeps, "main_command", lambda run: [sys.executable, "-c", fake, f"--workdir={run.workdir}"])
  lines = []
  start = time.time()
  failed = sweeps.run_local(runs, workers=3, log=lines.append)
  assert time.time() - start < 2.5  # the three missing runs ran at once (serially: > 3 s)
  assert failed == [runs[3]] and lines[0] == f"{runs[0].workdir}: already finished (report.json present), skipped"
  assert sum("done" in l for l in lines) == 2 and any("FAILED (exit 3" in l and runs[3].workdir in l for l in lines)
  assert [sweeps.finished(r) for r in runs] == [True, True, True, False]
  assert sweeps.run_local(runs[:3], workers=2, log=lines.append) == [] and lines[-1].endswith("skipped")


def _results(report):
  return {k: v for k, v in report.items() if k != "provenance"}  # provenance: the command, the host, the time


@pytest.mark.slow(reason="7 launch/main.py and launch/sweep.py processes, ~60-100 s on 2 shared cores")
def test_killed_local_sweep_completes_only_the_missing_runs(tmp_path):
  """Acceptance 2: SIGKILL mid-run, re-run, and report.py lists the four runs with the values of an
  uninterrupted sweep."""
  work, ref = tmp_path / "killed", tmp_path / "reference"
  runs = _runs(work)
  cmd = [sys.executable, "launch/sweep.py", f"--config={TINY}", *GRID, f"--workdir={work}", "--workers=1"]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:  # kill the sweep and its worker once the first run has finished and the second has checkpoints
    deadline = time.time() + 240
    while not (sweeps.finished(runs[0]) and _checkpointed(runs[1])) and proc.poll() is None and time.time() < deadline:
      time.sleep(0.02)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker process
    proc.wait()
  done = [r for r in runs if sweeps.finished(r)]
  assert runs[0] in done and len(done) < 4 and _checkpointed(runs[1]), "the sweep was not killed mid-run"
  again = subprocess.run(cmd + ["--workers=2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("already finished") == len(done)
  assert f"[{4 - len(done)}/{4 - len(done)}]" in again.stdout and "[4/" not in again.stdout.replace(f"[4/{4 - len(done)}]", "")
  reference = [sweeps.run_inprocess([r], log=lambda s: None)[0] for r in _runs(ref)]  # uninterrupted
  report = launch_module("report")
  listed = report.report([str(work)], str(tmp_path / "out"), log=lambda s: None)
  assert listed["runs"] == 4
  rows = (tmp_path / "out" / "runs.csv").read_text().splitlines()[1:]
  assert [r.split(",")[1:3] for r in rows] == [["loss.noise=0.1", "0"], ["loss.noise=0.2", "0"],
                                               ["loss.noise=0.1", "1"], ["loss.noise=0.2", "1"]]
  for run, expected in zip(runs, reference):
    with open(os.path.join(run.workdir, "report.json")) as f:
      assert _results(json.load(f)) == _results(expected)  # bit-identical to the uninterrupted sweep
    assert any(repr(expected["weight_norm"]) in r and run.workdir in r for r in rows)
