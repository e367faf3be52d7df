"""Provenance: config.json and report.json record the commit, the command, the versions, the devices
and per-phase wall times; a rerun ignores them; outside a git checkout the commit is None."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time

import loop_method
from conftest import ROOT
from lossyless_jax import methods, provenance, train


def test_run_records_provenance_and_a_rerun_ignores_it(tmp_path, capsys):
  workdir = str(tmp_path)
  report = train.train_and_eval(loop_method.get_config(), workdir)
  config = json.load(open(tmp_path / "config.json"))
  stored = json.load(open(tmp_path / "report.json"))
  assert stored == report
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
  for prov in (config[provenance.KEY], stored[provenance.KEY]):
    assert prov["commit"] == head and re.fullmatch(r"[0-9a-f]{40}", prov["commit"])
    assert isinstance(prov["command"], list) and prov["command"]
    assert all(prov["versions"][p] for p in ("jax", "flax", "constriction"))
    assert prov["devices"]["count"] >= 1 and prov["devices"]["backend"] == "cpu"
  wall = stored[provenance.KEY]["wall_time"]
  # loop_method evaluates the test split at steps 6 and 12
  assert [(e["step"], e["split"]) for e in wall["evaluations"]] == [(6, "test"), (12, "test")]
  assert wall["train_s"] > 0 and wall["report_s"] >= 0 and all(e["s"] > 0 for e in wall["evaluations"])
  assert wall["evaluate_s"] == sum(e["s"] for e in wall["evaluations"])
  out = capsys.readouterr().out
  assert f"run directory: {workdir}" in out
  # the rerun of the finished run: the stored provenance is no change of config, the same summary
  again = train.train_and_eval(loop_method.get_config(), workdir)
  assert again == report
  rerun_out = capsys.readouterr().out
  assert "already finished" in rerun_out and out.strip().splitlines()[-1] == rerun_out.strip().splitlines()[-1]


def test_commit_is_none_outside_a_git_checkout(tmp_path, monkeypatch):
  pkg = tmp_path / "pkg"
  pkg.mkdir()
  shutil.copy(os.path.join(ROOT, "lossyless_jax", "provenance.py"), pkg / "provenance.py")
  spec = importlib.util.spec_from_file_location("provenance_copy", pkg / "provenance.py")
  copy = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(copy)
  monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above tmp_path counts
  assert copy.commit() == {"commit": None, "dirty": None}
  monkeypatch.setenv("PATH", str(tmp_path / "no_git_here"))  # no git at all
  assert provenance.commit() == {"commit": None, "dirty": None}
  assert copy.record()["commit"] is None


def test_timer_names_each_evaluation_and_the_report():
  config = loop_method.get_config()
  config.eval_splits = ("validation", "test")

  def evaluate(params, model_state, batches, ctx):
    time.sleep(0.01)
    return {}

  def report(params, model_state, ctx):
    time.sleep(0.02)
    return {}

  timer = provenance.Timer(config)
  m = timer.wrap(methods.Method("fake", None, None, evaluate, report))
  for step in (5, 10):
    for _ in config.eval_splits:
      m.evaluate(None, None, (), methods.StepContext(step=step, coefs={}, config=config))
  m.report(None, None, methods.StepContext(step=10, coefs={}, config=config))
  wall = timer.phases()
  assert [(e["step"], e["split"]) for e in wall["evaluations"]] == [(5, "validation"), (5, "test"),
                                                                     (10, "validation"), (10, "test")]
  assert all(e["s"] >= 0.01 for e in wall["evaluations"]) and wall["report_s"] >= 0.02
  assert wall["train_s"] >= 0 and wall["evaluate_s"] >= 0.04
