"""Reruns of a workdir (`lossyless_jax.rerun`): a changed config refuses and leaves every file as it
was, a longer num_steps trains on exactly, evaluation-only fields are allowed, a finished run
writes nothing, and bad input writes nothing."""
import dataclasses
import hashlib
import os
import shutil

import numpy as np
import pytest

import loop_method
from lossyless_jax import config as config_lib
from lossyless_jax import errors, methods, provenance, train

methods.register(dataclasses.replace(loop_method.METHOD, name="test_contrastive_copy"))


def snapshot(directory) -> dict:
  """{relative path: (sha256, mtime_ns)} of every file under `directory`."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns)
  return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished 12-step run that kept every checkpoint (3, 6, 9, 12)."""
  workdir = str(tmp_path_factory.mktemp("finished"))
  train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10}), workdir)
  return workdir


def unfinished_copy(finished, target, step=6):
  """`finished` as if killed right after its checkpoint of `step`."""
  shutil.copytree(finished, target)
  for kind in ("latest", "best"):
    for d in os.listdir(os.path.join(target, "checkpoints", kind)):
      if d.isdigit() and int(d) > step:
        shutil.rmtree(os.path.join(target, "checkpoints", kind, d))
  os.remove(os.path.join(target, "report.json"))
  return str(target)


def _final_params(workdir):
  import orbax.checkpoint as ocp
  latest = os.path.join(workdir, "checkpoints", "latest")
  step = max(int(d) for d in os.listdir(latest) if d.isdigit())
  state = ocp.StandardCheckpointer().restore(os.path.join(latest, str(step), "state"))
  return step, {k: np.asarray(v) for k, v in state["params"].items()}


CHANGES = {  # field -> value of a changed config (each refused)
    "method": "test_contrastive_copy",
    "model.dim": 16,
    "data.name": "banana",
    "data.batch_size": 16,
    "data.image_size": 8,
    "seed": 1,
    "data.seed": 3,
    "optim.lr.value": 0.5,
    "optim.name": "sgd",
    "loss.temperature": 0.2,
    "loss.noise": 0.3,
    "monitor": "test/examples",
    "num_steps": 3,  # shorter than the run
}


@pytest.mark.parametrize("state", ["finished", "unfinished"])
@pytest.mark.parametrize("field", sorted(CHANGES))
def test_a_changed_field_refuses_in_one_line_and_leaves_the_workdir_as_it_was(finished, tmp_path, state, field):
  workdir = str(tmp_path / "run")
  if state == "finished":
    shutil.copytree(finished, workdir)
  else:
    unfinished_copy(finished, workdir)
  before = snapshot(workdir)
  with pytest.raises(errors.RunMismatchError) as info:
    train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10, field: CHANGES[field]}), workdir)
  message = str(info.value)
  assert "\n" not in message and field in message and "--workdir" in message
  assert snapshot(workdir) == before


def test_a_longer_num_steps_trains_on_to_the_run_of_that_length(finished, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished, workdir)
  report = train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10, "num_steps": 18}), workdir)
  reference = str(tmp_path / "reference")
  expected = train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10, "num_steps": 18}), reference)
  assert report["steps"] == 18 and provenance.strip(report) == provenance.strip(expected)  # wall times differ
  (step_a, a), (step_b, b) = _final_params(workdir), _final_params(reference)  # constant lr: same run
  assert step_a == step_b == 18 and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("field, value", [("log_every", 2), ("checkpoint.every", 2), ("eval_every", 4),
                                          ("patience", 3), ("data.eval_batch_size", 32)])
def test_safe_fields_may_change_on_an_unfinished_run(finished, tmp_path, field, value):
  workdir = unfinished_copy(finished, tmp_path / "run")
  report = train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10, field: value}), workdir)
  assert report["steps"] == 12
  (_, a), (_, b) = _final_params(workdir), _final_params(finished)
  assert all(np.array_equal(a[k], b[k]) for k in a)  # what was trained is what was trained


def test_report_on_change_recomputes_the_report_of_a_finished_run(finished, tmp_path, capsys):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished, workdir)
  report = train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10, "report_on": "last"}), workdir)
  assert "the report is recomputed" in capsys.readouterr().out
  assert report["steps"] == 12 and "weight_norm" in report


def test_a_finished_run_writes_nothing_when_rerun(finished, tmp_path, capsys):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished, workdir)
  before = snapshot(workdir)
  report = train.train_and_eval(loop_method.get_config(**{"checkpoint.keep": 10}), workdir)
  assert report["steps"] == 12 and "already finished" in capsys.readouterr().out
  assert snapshot(workdir) == before


def test_bad_input_writes_nothing(tmp_path):
  workdir = tmp_path / "new_run"
  with pytest.raises(config_lib.ConfigError, match="config.data.name: unknown dataset 'nope'"):
    train.train_and_eval(loop_method.get_config(**{"data.name": "nope"}), str(workdir))
  assert not workdir.exists()


def test_a_bad_optimizer_is_refused_before_the_data_is_built(tmp_path):
  config = loop_method.get_config(**{"optim.name": "lion", "data.name": "nope"})
  with pytest.raises(config_lib.ConfigError, match="config.optim.name: 'lion'"):
    train.train_and_eval(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
