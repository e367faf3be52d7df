"""TensorFlow Datasets sources (`config.data.name = "tfds:<name>"`), read from `config.data.data_dir`.

Nothing is ever downloaded here: a dataset that is not prepared fails at once with the
command that prepares it. Training streams through tf.data (host shard, per-epoch seeded
shuffle, resumable by (epoch, batch)); evaluation splits are read into memory once.
Images become float32 in [0, 1] (optionally resized); other numeric features pass through.
"""
from __future__ import annotations

import numpy as np

from lossyless_jax import errors
from lossyless_jax.config import ConfigError


class DatasetNotPreparedError(FileNotFoundError):
  """A TFDS dataset has no prepared data in the configured `data_dir`."""


def _load(name: str, split: str, data_dir):
  import tensorflow_datasets as tfds
  try:
    return tfds.load(name, split=split, data_dir=data_dir, download=False, shuffle_files=False)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ConfigError(f"config.data.name: TFDS has no dataset {name!r} (see `tfds.list_builders()`)") from e
  except AssertionError as e:
    where = data_dir or "~/tensorflow_datasets (TFDS's default; set --config.data.data_dir)"
    raise DatasetNotPreparedError(
        f"TFDS dataset {name!r} (split {split!r}) is not prepared in {where}. Prepare it on a machine with "
        f"internet access with `tfds build {name} --data_dir=DIR` (or `tfds.builder({name!r}, data_dir=DIR)"
        f".download_and_prepare()`), copy DIR here and pass --config.data.data_dir=DIR. [{e}]") from None


def to_arrays(batch: dict, image_size: int = 0) -> dict:
  """float32 [0, 1] images (resized if asked), int32 labels; string features dropped."""
  out = {}
  for key, value in batch.items():
    value = np.asarray(value)
    if value.dtype.kind in "OSU":
      continue
    if key == "image" or (value.dtype == np.uint8 and value.ndim == 4):
      value = value.astype(np.float32) / 255.0
      if image_size and value.shape[1] != image_size:
        from lossyless_jax.data.digits import resize
        value = resize(value, image_size)
    elif value.dtype.kind == "i":
      value = value.astype(np.int32)
    out[key] = value
  return out


class TFDSTrainIterator:
  def __init__(self, name, split, data_dir, global_batch, seed, shuffle_buffer, image_size,
               process_index, process_count):
    import tensorflow as tf
    self._tf = tf
    self.base = _load(name, split, data_dir).shard(process_count, process_index)
    self.host_batch = global_batch // process_count
    self.seed, self.shuffle_buffer, self.image_size = seed, shuffle_buffer, image_size
    self.epoch, self.batch = 0, 0
    self._it = None

  def state(self) -> dict:
    return {"epoch": self.epoch, "batch": self.batch}

  def restore(self, state: dict) -> None:
    self.epoch, self.batch, self._it = int(state["epoch"]), int(state["batch"]), None

  def _open(self):
    import tensorflow_datasets as tfds
    ds = self.base.shuffle(self.shuffle_buffer, seed=self.seed * 100_003 + self.epoch, reshuffle_each_iteration=False)
    ds = ds.batch(self.host_batch, drop_remainder=True).skip(self.batch)
    options = self._tf.data.Options()
    options.deterministic = True
    self._it = iter(tfds.as_numpy(ds.with_options(options).prefetch(2)))

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self._it is None:
      self._open()
    try:
      batch = next(self._it)
    except StopIteration:
      if self.batch == 0:
        raise ConfigError(f"config.data.batch_size: the host's split has fewer than {self.host_batch} examples") from None
      self.epoch, self.batch = self.epoch + 1, 0
      self._open()
      batch = next(self._it)
    self.batch += 1
    return to_arrays(batch, self.image_size)


def load_split(name: str, split: str, data_dir, image_size: int = 0) -> dict:
  """A whole split as arrays (for evaluation)."""
  import tensorflow_datasets as tfds
  ds = _load(name, split, data_dir)
  batches = [to_arrays(b, image_size) for b in tfds.as_numpy(ds.batch(1024))]
  if not batches:
    raise errors.DataError(f"TFDS dataset {name!r} split {split!r} is empty")
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
