"""Data: deterministic resumable iterators, host slices, eval padding, TFDS (mock and missing)."""
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

import loop_method
from lossyless_jax import config as config_lib
from lossyless_jax import data, train
from lossyless_jax.data import tfds_source


def _cfg(**kw):
  c = config_lib.base_config().data
  c.update(kw)
  return c


def test_digits_splits_are_disjoint_and_complete():
  splits = {s: data.load_arrays(_cfg(), s) for s in ("train", "validation", "test")}
  assert [len(splits[s]["label"]) for s in splits] == [1257, 180, 360]
  flat = np.concatenate([splits[s]["image"].reshape(-1, 64) for s in splits])
  assert len(np.unique(flat, axis=0)) >= 1700  # (a few digits are exact duplicates in the source)
  assert splits["train"]["image"].dtype == np.float32 and 0 <= splits["train"]["image"].min() and splits["train"]["image"].max() <= 1
  up = data.load_arrays(_cfg(image_size=28), "test")["image"]
  assert up.shape == (360, 28, 28, 1)


@pytest.mark.parametrize("name", ["digits", "gaussian20"])
def test_train_iterator_resumes_exactly_and_hosts_partition_the_global_batch(name):
  c = _cfg(name=name, batch_size=64, seed=3)
  it = data.build(c, "train")
  first = [next(it) for _ in range(25)]  # crosses an epoch boundary for digits (19 batches per epoch)
  resumed = data.build(c, "train")
  resumed.restore(data.build(c, "train").state() | {"position": 20})
  for a, b in zip(first[20:], [next(resumed) for _ in range(5)]):
    assert all(np.array_equal(a[k], b[k]) for k in a)
  hosts = [data.build(c, "train", i, 2) for i in range(2)]
  for b in first[:3]:
    parts = [next(h) for h in hosts]
    assert all(np.array_equal(np.concatenate([p[k] for p in parts]), b[k]) for k in b)
  key = "image" if name == "digits" else "x"
  assert not np.array_equal(first[0][key], first[19 if name == "digits" else 1][key])


def test_eval_split_is_padded_with_a_mask():
  split = data.build(_cfg(eval_batch_size=128), "test")
  batches = list(split)
  assert len(batches) == 3 and all(b["image"].shape[0] == 128 for b in batches)
  assert sum(b["mask"].sum() for b in batches) == 360 == split.num_examples
  assert np.all(batches[-1]["image"][batches[-1]["mask"] == 0] == 0)


def test_missing_tfds_dataset_fails_fast_with_instructions(tmp_path):
  import tensorflow  # noqa: F401  (its first import is slow on a loaded machine; not what is timed)
  t0 = time.time()
  with pytest.raises(tfds_source.DatasetNotPreparedError, match=r"'mnist'.*not prepared in .*tfds build mnist --data_dir"):
    next(data.build(_cfg(name="tfds:mnist", data_dir=str(tmp_path)), "train"))
  assert time.time() - t0 < 10
  with pytest.raises(ValueError, match="TFDS has no dataset 'no_such_dataset'"):
    data.load_arrays(_cfg(name="tfds:no_such_dataset", data_dir=str(tmp_path)), "test")


def test_tfds_mock_data_runs_through_the_loop(tmp_path):
  config = loop_method.get_config(num_steps=6, eval_every=3, **{"data.name": "tfds:mnist",
                                                                 "data.data_dir": str(tmp_path / "tfds"),
                                                                 "data.batch_size": 8, "data.eval_batch_size": 16})
  with tfds.testing.mock_data(num_examples=40):
    report = train.train_and_eval(config, str(tmp_path / "run"))
    it = data.build(config.data, "train")
    batches = [next(it) for _ in range(7)]  # 5 batches per epoch: crosses into epoch 1
    resumed = data.build(config.data, "train")
    resumed.restore({"epoch": 1, "batch": 0})
    assert np.array_equal(next(resumed)["image"], batches[5]["image"])
  assert report["steps"] == 6 and np.isfinite(report["best_value"])
  assert batches[0]["image"].dtype == np.float32 and batches[0]["image"].shape == (8, 28, 28, 1)
