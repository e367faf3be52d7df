"""Checkpoint verification (`lossyless_jax.checkpoint`): a damaged newest checkpoint is named, the
run falls back to the previous good one and finishes bit-identical to an uninterrupted run; the
metrics logged after a resume cover the same steps as without one."""
import glob
import os
import shutil

import numpy as np
import pytest

import loop_method
from lossyless_jax import checkpoint, errors, train
from lossyless_jax import logging as log_lib
from test_train_rerun import _final_params, unfinished_copy

CONFIG = {"checkpoint.keep": 10}  # log_every 4, checkpoint.every 3: the windows do not line up


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("finished"))
  train.train_and_eval(loop_method.get_config(**CONFIG), workdir)
  return workdir


def _largest_data_file(step_dir):
  files = [f for f in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True) if os.path.isfile(f)]
  return max(files, key=os.path.getsize)


def _flip(path):
  with open(path, "r+b") as f:
    data = bytearray(f.read())
    for i in range(min(64, len(data))):
      data[len(data) // 2 - 32 + i] ^= 0xFF
    f.seek(0)
    f.write(data)


def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


DAMAGE = {
    "flipped_bytes": lambda d: _flip(_largest_data_file(d)),
    "truncated_data_file": lambda d: _truncate(_largest_data_file(d)),
    "deleted_METADATA": lambda d: os.remove(os.path.join(d, "state", "_METADATA")),
    "deleted_manifest": lambda d: os.remove(os.path.join(d, "state", "manifest.ocdbt")),
    "garbled_meta": lambda d: open(os.path.join(d, "meta", "metadata"), "w").write('{"data": [1, 2'),
}


def _assert_same_run(a, b):
  (step_a, pa), (step_b, pb) = _final_params(a), _final_params(b)
  assert step_a == step_b == 12 and all(np.array_equal(pa[k], pb[k]) for k in pa)
  assert log_lib.read_jsonl(os.path.join(a, "metrics.jsonl")) == log_lib.read_jsonl(os.path.join(b, "metrics.jsonl"))


def test_resume_logs_the_same_train_means_as_an_uninterrupted_run(finished, tmp_path):
  workdir = unfinished_copy(finished, tmp_path / "run", step=6)  # the step-8 mean covers steps 5..8
  train.train_and_eval(loop_method.get_config(**CONFIG), workdir)
  _assert_same_run(workdir, finished)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_newest_checkpoint_is_named_and_the_run_falls_back(finished, tmp_path, capsys, damage):
  workdir = unfinished_copy(finished, tmp_path / "run", step=9)
  DAMAGE[damage](os.path.join(workdir, "checkpoints", "latest", "9"))
  train.train_and_eval(loop_method.get_config(**CONFIG), workdir)
  err = capsys.readouterr().err
  assert "checkpoints/latest/9" in err and "restored step 6 instead" in err, err
  named = {"deleted_METADATA": "_METADATA", "deleted_manifest": "manifest.ocdbt", "garbled_meta": "meta/metadata"}
  assert named.get(damage, "state/") in err
  _assert_same_run(workdir, finished)


def test_every_checkpoint_damaged_refuses_naming_each(finished, tmp_path):
  workdir = unfinished_copy(finished, tmp_path / "run", step=6)
  for step in ("3", "6"):
    DAMAGE["flipped_bytes"](os.path.join(workdir, "checkpoints", "latest", step))
  with pytest.raises(errors.CheckpointError, match=r"latest/6 \(state/.*SHA-256.*latest/3 \(state/"):
    train.train_and_eval(loop_method.get_config(**CONFIG), workdir)


def test_a_checkpoint_without_digest_is_an_incomplete_save_and_is_skipped(finished, tmp_path, capsys):
  workdir = unfinished_copy(finished, tmp_path / "run", step=9)
  os.remove(os.path.join(workdir, "checkpoints", "latest", "9", checkpoint.DIGEST))  # killed before the digest
  train.train_and_eval(loop_method.get_config(**CONFIG), workdir)
  assert "save did not complete" in capsys.readouterr().err
  _assert_same_run(workdir, finished)


def test_verify_names_an_extra_file(finished, tmp_path):
  step_dir = str(tmp_path / "3")
  shutil.copytree(os.path.join(finished, "checkpoints", "latest", "3"), step_dir)
  assert checkpoint.verify(step_dir) is None
  open(os.path.join(step_dir, "state", "stray"), "w").write("x")
  assert checkpoint.verify(step_dir) == "state/stray: not part of the saved checkpoint"
