"""Data: `build(config.data, split, process_index, process_count)` and the source registry.

Embedded sources work offline (`digits`: scikit-learn's digits; the synthetic sources of
`rd_sources` with closed-form R(D): `gaussian20`, `gaussian40`, `gaussian1`, `laplace`, `bernoulli`, ...;
`banana`, the 2-D source of the invariance experiments; `npz_features`, a user's precomputed
features); `tfds:<name>` reads a prepared TensorFlow Datasets dataset from
`config.data.data_dir`; `cityscapes` streams the official Cityscapes tree in `config.data.data_dir`
(images, trainId labels, disparity; grain workers, see `cityscapes`), and `check` validates such a
tree in a second. The `train` split gives an infinite, resumable iterator of this host's
slice of each global batch; other splits give an `EvalSplit` (one padded pass with `mask`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from lossyless_jax.config import ConfigError
from lossyless_jax.data import banana, cityscapes, coloured_digits, digits, gray_wyner_synthetic, npz_features, pipeline, rd_sources, tfds_source

# name -> split, data_config -> dict of arrays (a finite, in-memory split).
ARRAY_SOURCES: dict[str, Callable] = {
    "digits": lambda split, c: digits.load(split, c.image_size),
    "npz_features": npz_features.load,
    "coloured_digits": coloured_digits.array_source,
}
# name -> (rng: np.random.Generator, n, data_config) -> dict of arrays (an unbounded source).
SAMPLED_SOURCES: dict[str, Callable] = {"banana": banana.sample_source,
                                        "gray_wyner_synthetic": gray_wyner_synthetic.sample_source}
# name -> (data_config, split, process_index, process_count) -> train iterator or eval split (files streamed
# from config.data.data_dir); name -> data_config -> None, raising if the files are not there.
STREAMED_SOURCES: dict[str, Callable] = {"cityscapes": cityscapes.build}
STREAMED_CHECKS: dict[str, Callable] = {"cityscapes": cityscapes.check}
EVAL_SPLIT_SIZE = 10_000  # examples in a sampled source's eval split unless options.eval_size says otherwise.


def register_array_source(name: str, load: Callable) -> None:
  ARRAY_SOURCES[name] = load


def register_sampled_source(name: str, sample: Callable) -> None:
  SAMPLED_SOURCES[name] = sample


@functools.lru_cache(maxsize=None)
def _rd_source(name: str, options: tuple):
  return rd_sources.get_source(name, **dict(options))


def _rd_sampler(name: str) -> Callable:
  """A closed-form R(D) source of `rd_sources` (options: its constructor's keyword arguments)."""
  def sample(rng: np.random.Generator, n: int, c) -> dict:
    options = tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v)
                           for k, v in c.options.items() if k != "eval_size"))
    return {"x": np.asarray(_rd_source(name, options).sample(rng, n), np.float32)}
  return sample


for _name in rd_sources.SOURCE_NAMES:
  register_sampled_source(_name, _rd_sampler(_name))


def names() -> list[str]:
  return sorted(ARRAY_SOURCES) + sorted(SAMPLED_SOURCES) + sorted(STREAMED_SOURCES) + ["tfds:<name>"]


def check(data_config):
  """Fails fast (DataError / ConfigError naming the path and field) if a streamed source's files are missing;
  nothing to do for the other sources."""
  if data_config.name in STREAMED_CHECKS:
    return STREAMED_CHECKS[data_config.name](data_config)
  return None


@dataclasses.dataclass
class EvalSplit:
  """One ordered pass per iteration over a whole split, in padded global batches."""
  arrays: dict
  global_batch: int
  process_index: int
  process_count: int

  @property
  def num_examples(self) -> int:
    return next(iter(self.arrays.values())).shape[0]

  def __iter__(self):
    return pipeline.eval_batches(self.arrays, self.global_batch, self.process_index, self.process_count)


def _unknown(name: str):
  return ConfigError(f"config.data.name: unknown dataset {name!r}; valid: {', '.join(names())}")


def load_arrays(data_config, split: str) -> dict:
  """A whole split of a finite source (embedded or TFDS) as a dict of arrays."""
  name = data_config.name
  if name in ARRAY_SOURCES:
    return ARRAY_SOURCES[name](split, data_config)
  if name == "cityscapes":  # small trees only (it refuses a split larger than 2 GiB)
    return cityscapes.load_arrays(data_config, split)
  if name.startswith("tfds:"):
    return tfds_source.load_split(name[5:], split, data_config.data_dir, data_config.image_size)
  if name in SAMPLED_SOURCES:
    n = int(data_config.options.get("eval_size", EVAL_SPLIT_SIZE))
    rng = np.random.default_rng([data_config.seed, 7919, sum(map(ord, split))])
    return SAMPLED_SOURCES[name](rng, n, data_config)
  raise _unknown(name)


def build(data_config, split: str, process_index: int = 0, process_count: int = 1):
  """This host's data for `split`: for 'train' a resumable infinite iterator over
  `data_config.train_split` (default 'train'), else an EvalSplit."""
  name = data_config.name
  if name in STREAMED_SOURCES:
    return STREAMED_SOURCES[name](data_config, split, process_index, process_count)
  if split != "train":
    return EvalSplit(load_arrays(data_config, split), data_config.eval_batch_size, process_index, process_count)
  split = data_config.get("train_split", "train")
  if data_config.batch_size % process_count:
    raise ConfigError(f"config.data.batch_size: {data_config.batch_size} does not split over {process_count} processes")
  if name in SAMPLED_SOURCES:
    sample = SAMPLED_SOURCES[name]
    return pipeline.SampledTrainIterator(lambda rng, n: sample(rng, n, data_config), data_config.batch_size,
                                         data_config.seed, process_index, process_count)
  if name.startswith("tfds:"):
    return tfds_source.TFDSTrainIterator(name[5:], split, data_config.data_dir, data_config.batch_size,
                                         data_config.seed, data_config.shuffle_buffer, data_config.image_size,
                                         process_index, process_count)
  if name in ARRAY_SOURCES:
    return pipeline.ArrayTrainIterator(load_arrays(data_config, split), data_config.batch_size, data_config.seed,
                                       process_index, process_count)
  raise _unknown(name)
