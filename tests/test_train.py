"""The loop: logs read back, exact resume after SIGKILL, non-finite guard, early stopping, finished runs."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

import loop_method
from conftest import ROOT
from lossyless_jax import logging as log_lib
from lossyless_jax import train


def _event_scalars(directory):
  """{tag: [(step, value)]} of the scalar summaries in a TensorBoard log directory (written as tensors)."""
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
  from tensorboard.util import tensor_util
  acc = EventAccumulator(directory, size_guidance={"tensors": 0})
  acc.Reload()
  return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
          for tag in acc.Tags()["tensors"]}


def test_run_writes_tensorboard_jsonl_config_and_report(tmp_path):
  workdir = str(tmp_path)
  report = train.train_and_eval(loop_method.get_config(), workdir)
  with open(tmp_path / "report.json") as f:
    assert json.load(f) == report
  assert report["steps"] == 12 and report["best_step"] in (6, 12) and np.isfinite(report["weight_norm"])
  with open(tmp_path / "config.json") as f:
    saved = json.load(f)
  assert saved["method"] == "test_contrastive" and saved["data"]["batch_size"] == 32 and saved["model"]["dim"] == 8
  records = log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert [(r["step"], r["split"]) for r in records] == [(4, "train"), (6, "test"), (8, "train"), (12, "train"), (12, "test")]
  assert all(np.isfinite(r["loss"]) for r in records) and records[1]["examples"] == 360
  train_events = _event_scalars(str(tmp_path / "tensorboard" / "train"))
  test_events = _event_scalars(str(tmp_path / "tensorboard" / "test"))
  assert [s for s, _ in train_events["loss"]] == [4, 8, 12]
  np.testing.assert_allclose([v for _, v in train_events["loss"]], [r["loss"] for r in records if r["split"] == "train"], rtol=1e-6)
  assert [s for s, _ in test_events["loss"]] == [6, 12]
  with open(tmp_path / "checkpoints" / "latest" / "12" / "meta" / "metadata") as f:
    assert json.load(f)["data"] == {"position": 12}  # the init batch is not a training step's


def test_eval_subset_logs_a_test_curve_between_full_evaluations_and_selects_nothing(tmp_path):
  config = loop_method.get_config(**{"eval_subset.every": 2, "eval_subset.size": 100})
  report = train.train_and_eval(config, str(tmp_path))
  records = log_lib.read_jsonl(str(tmp_path / "metrics.jsonl"))
  subset = [r for r in records if r["split"] == "test_subset"]
  assert [r["step"] for r in subset] == [2, 4, 8, 10]  # not at the full evaluations (6, 12)
  assert all(r["examples"] == 100 for r in subset)
  assert [s for s, _ in _event_scalars(str(tmp_path / "tensorboard" / "test_subset"))["loss"]] == [2, 4, 8, 10]
  full = {r["step"]: r["loss"] for r in records if r["split"] == "test"}
  assert report["best_step"] == min(full, key=full.get)  # chosen among the full evaluations only
  plain = train.train_and_eval(loop_method.get_config(), str(tmp_path / "plain"))
  assert plain["weight_norm"] == report["weight_norm"]  # the subset changes nothing that is trained


def test_finished_run_trains_nothing_and_returns_its_report(tmp_path, capsys):
  first = train.train_and_eval(loop_method.get_config(), str(tmp_path))
  lines = (tmp_path / "metrics.jsonl").read_text()
  second = train.train_and_eval(loop_method.get_config(), str(tmp_path))
  assert second == first
  assert (tmp_path / "metrics.jsonl").read_text() == lines
  assert "already finished" in capsys.readouterr().out


def test_coefficient_schedule_reaches_the_loss(tmp_path):
  config = loop_method.get_config(num_steps=8, log_every=1)
  config.coefs.weight = loop_method.config_lib.schedule_config(value=2.0, warmup_steps=4)
  train.train_and_eval(config, str(tmp_path))
  weights = [r["coef/weight"] for r in log_lib.read_jsonl(str(tmp_path / "metrics.jsonl")) if r["split"] == "train"]
  np.testing.assert_allclose(weights, [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0], atol=1e-6)
  losses = [r for r in log_lib.read_jsonl(str(tmp_path / "metrics.jsonl")) if r["split"] == "train"]
  np.testing.assert_allclose(losses[2]["loss"], 1.0 * losses[2]["nt_xent"], rtol=1e-6)


def test_nonfinite_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
  config = loop_method.get_config(num_steps=20, log_every=2, eval_every=100, **{"checkpoint.every": 2})
  config.loss.nan_from_step = 5
  with pytest.raises(train.NonFiniteError, match=r"non-finite loss or gradient at step 6"):
    train.train_and_eval(config, str(tmp_path))
  steps = sorted(int(os.path.basename(p)) for p in glob.glob(str(tmp_path / "checkpoints" / "latest" / "*")) if os.path.basename(p).isdigit())
  assert steps[-1] == 4
  params = ocp.StandardCheckpointer().restore(str(tmp_path / "checkpoints" / "latest" / "4" / "state"))["params"]
  assert np.all(np.isfinite(np.asarray(params["w"])))
  # the steps before the bad one trained as in a clean run: its step 4 exactly, not its step 2
  clean = {}
  for n in (2, 4):
    train.train_and_eval(loop_method.get_config(num_steps=n, eval_every=100), str(tmp_path / f"clean{n}"))
    clean[n] = _final_params(str(tmp_path / f"clean{n}"))[1]["w"]
  np.testing.assert_array_equal(np.asarray(params["w"]), clean[4])
  assert not np.array_equal(clean[2], clean[4])


def test_early_stopping_on_patience(tmp_path):
  config = loop_method.get_config(num_steps=40, eval_every=4, patience=2)
  config.optim.lr.value = 0.0  # nothing improves after the first evaluation
  report = train.train_and_eval(config, str(tmp_path))
  assert report["steps"] == 12 and report["best_step"] == 4


def _final_params(workdir):
  mgr = ocp.CheckpointManager(os.path.join(workdir, "checkpoints", "latest"))
  step = mgr.latest_step()
  state = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", "latest", str(step), "state"))
  import jax
  return step, {k: np.asarray(v) for k, v in state["params"].items()}, [np.asarray(x) for x in jax.tree_util.tree_leaves(state["opt_state"])]


def test_sigkill_then_same_command_is_bit_identical_to_uninterrupted(tmp_path, python):
  args = ["launch/main.py", "--config=tests/configs/contrastive.py:16", "--config.num_steps=400",
          "--config.log_every=10", "--config.eval_every=50", "--config.checkpoint.every=7"]
  reference = str(tmp_path / "reference")
  python(args + [f"--workdir={reference}"])
  killed = str(tmp_path / "killed")
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen([sys.executable, *args, f"--workdir={killed}"], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  latest = os.path.join(killed, "checkpoints", "latest")
  deadline = time.time() + 240
  while time.time() < deadline and not any(d.isdigit() and int(d) >= 100 for d in (os.listdir(latest) if os.path.isdir(latest) else [])):
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  records = log_lib.read_jsonl(os.path.join(killed, "metrics.jsonl"))
  assert records[-1]["step"] < 400, "the run finished before it was killed; nothing was tested"
  python(args + [f"--workdir={killed}"])
  step_a, params_a, mu_a = _final_params(reference)
  step_b, params_b, mu_b = _final_params(killed)
  assert step_a == step_b == 400
  for k in params_a:
    assert np.array_equal(params_a[k], params_b[k]), k
  assert len(mu_a) == len(mu_b) > 0 and all(np.array_equal(a, b) for a, b in zip(mu_a, mu_b))
  ref_records = log_lib.read_jsonl(os.path.join(reference, "metrics.jsonl"))
  got_records = log_lib.read_jsonl(os.path.join(killed, "metrics.jsonl"))
  keys = lambda rs: [(r["step"], r["split"]) for r in rs]
  assert keys(got_records) == keys(ref_records)  # no duplicated or missing steps
  evals = lambda rs: [r["loss"] for r in rs if r["split"] == "test"]
  assert evals(got_records) == evals(ref_records)
