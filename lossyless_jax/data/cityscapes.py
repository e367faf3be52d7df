"""Cityscapes (Gray-Wyner §4.3): images, 19-class segmentation labels and disparity, read from the official layout.

Under `config.data.data_dir`::

  leftImg8bit/<folder>/<city>/<stem>_leftImg8bit.png      RGB uint8
  gtFine/<folder>/<city>/<stem>_gtFine_labelIds.png       uint8 labelIds
  disparity/<folder>/<city>/<stem>_disparity.png          uint16 p

with split `train` in folder `train` and `validation` (or `val`) in `val` (`test` in `test`). An
example is a dict: `image` float32 [H, W, 3] in [0, 1] at full resolution (no normalisation, §4.3),
`label` int32 [H, W] trainIds (`LABEL_TO_TRAIN_ID`, everything else `IGNORE_INDEX` = 19),
`disparity` float32 [H, W] = (p - 1) / 32768 where p > 0 and 0 elsewhere, `disparity_mask` float32
[H, W] (1 where p > 0).

Training augmentation (§4.3; `config.data.options`), in this order and drawn from a generator that
is a pure function of (`config.data.seed`, epoch, example index), so a resumed run is exact:

* `crop`: None or (h, w): a random crop (768x768 for segmentation pretraining), before flip and jitter;
* `flip` (True): a random horizontal flip (p = 0.5) of image, label and disparity together;
* `colour_jitter` (0.5; a number j or a (brightness, contrast, saturation) triple; 0 disables): factors
  uniform in [max(0, 1 - j), 1 + j], the three operations in a random order, on the image only, no hue.
  It runs on float images in [0, 1] (contrast blends with the grayscale mean of the image, saturation
  with its grayscale, weights 0.299/0.587/0.114), so it is not bit-identical to torchvision's
  ColorJitter on PIL uint8 images, which the authors used (PIL rounds every step and the mean).

Other options: `resize` (None or (h, w); image bilinear, label and disparity nearest; for CPU runs,
applied first, to every split), `num_workers` (0: decode in this process; n: n grain worker
processes), `max_examples` (None, or the first n examples of each split in sorted order),
`fake_tree` (None, or e.g. dict(train=8, val=4, height=64, width=128): smoke runs write that fake
tree into `config.data.data_dir` first unless it already holds one, see `cityscapes_fake`).

The loader is a grain `MapDataset` over global batch positions: batch `position` of epoch
`position // batches_per_epoch` takes its examples from a permutation seeded by (seed, epoch) and this
host keeps its `batch_size // process_count` slice, decoded by `num_workers` processes. The remainder
of each epoch is dropped. The whole state is `position`, so `state()` / `restore()` resume mid-epoch.
Evaluation splits stream in order in padded global batches with `mask`; nothing holds a whole split.
Missing folders or files fail at once (files are listed, not decoded) naming the path, the layout
and `config.data.data_dir`.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import shutil

import numpy as np
from PIL import Image

from lossyless_jax import errors
from lossyless_jax.config import ConfigError

NUM_CLASSES = 19
IGNORE_INDEX = 19
DISPARITY_OFFSET = 1.0  # p = 0 is invalid; disparity in pixels is (p - 1) / 256, so (p - 1) / 32768 = px / 128.
DISPARITY_SCALE = 32768.0
# labelId -> trainId of cityscapesscripts' `helpers/labels.py` (its 255 is IGNORE_INDEX here).
_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13,
              27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
LABEL_TO_TRAIN_ID = np.full(256, IGNORE_INDEX, np.uint8)
LABEL_TO_TRAIN_ID[list(_TRAIN_IDS)] = list(_TRAIN_IDS.values())
LABEL_TO_TRAIN_ID.flags.writeable = False

SPLIT_FOLDERS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
FOLDERS = (("leftImg8bit", "_leftImg8bit.png"), ("gtFine", "_gtFine_labelIds.png"), ("disparity", "_disparity.png"))
LAYOUT = ("leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png, gtFine/{split}/<city>/<stem>_gtFine_labelIds.png "
          "and disparity/{split}/<city>/<stem>_disparity.png")
OPTIONS = dict(crop=None, flip=True, colour_jitter=0.5, resize=None, num_workers=0, max_examples=None, fake_tree=None)
FAKE_TREE_KEYS = ("train", "val", "test", "height", "width", "cities", "seed")
GRAY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2 luma, as PIL's "L" conversion.
WORKER_BUFFER = 2  # host batches each worker keeps ready.


def _hint(root=None) -> str:
  where = f" under {root}" if root else ""
  return (f"expected the Cityscapes layout {LAYOUT}{where}; set --config.data.data_dir=DIR to the folder holding "
          f"leftImg8bit/, gtFine/ and disparity/ (`python -m lossyless_jax.data.cityscapes_fake DIR` writes a small "
          f"fake tree for smoke runs)")


def _pair(value, field: str):
  if value is None:
    return None
  pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
  if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in pair):
    raise ConfigError(f"config.data.options.{field}: {value!r}; expected None or (height, width), positive integers")
  return int(pair[0]), int(pair[1])


def parse_options(data_config) -> dict:
  """`config.data.options` with the defaults of `OPTIONS` filled in and checked (ConfigError naming the field)."""
  given = data_config.get("options") or {}
  given = given.to_dict() if hasattr(given, "to_dict") else dict(given)
  unknown = sorted(set(given) - set(OPTIONS))
  if unknown:
    raise ConfigError(f"config.data.options.{unknown[0]}: unknown Cityscapes option; "
                      f"valid: {', '.join(sorted(OPTIONS))}")
  opts = {**OPTIONS, **{k: v for k, v in given.items()}}
  opts["crop"], opts["resize"] = _pair(opts["crop"], "crop"), _pair(opts["resize"], "resize")
  if not isinstance(opts["flip"], (bool, np.bool_)):
    raise ConfigError(f"config.data.options.flip: {opts['flip']!r}; expected True or False")
  jitter = opts["colour_jitter"] or 0.0
  jitter = (jitter,) * 3 if isinstance(jitter, (int, float)) else tuple(jitter)
  if len(jitter) != 3 or not all(isinstance(j, (int, float)) and not isinstance(j, bool) and 0 <= j < float("inf")
                                 for j in jitter):
    raise ConfigError(f"config.data.options.colour_jitter: {opts['colour_jitter']!r}; expected a number >= 0 or a "
                      "(brightness, contrast, saturation) triple of them")
  opts["colour_jitter"] = tuple(float(j) for j in jitter)
  for field, low in (("num_workers", 0), ("max_examples", 1)):
    v = opts[field]
    integer = isinstance(v, int) and not isinstance(v, bool) and v >= low
    if not integer and not (v is None and field == "max_examples"):
      raise ConfigError(f"config.data.options.{field}: {v!r}; expected an integer >= {low}"
                        + (" or None" if field == "max_examples" else ""))
  fake = opts["fake_tree"]
  if fake is not None:
    fake = fake.to_dict() if hasattr(fake, "to_dict") else fake
    if (not isinstance(fake, dict) or set(fake) - set(FAKE_TREE_KEYS)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in fake.values())):
      raise ConfigError(f"config.data.options.fake_tree: {fake!r}; expected None or a dict of non-negative integers "
                        f"with keys among {', '.join(FAKE_TREE_KEYS)}")
    opts["fake_tree"] = fake
  if data_config.get("image_size", 0):
    raise ConfigError(f"config.data.image_size: {data_config.image_size}; Cityscapes keeps its full resolution, "
                      "set config.data.options.resize=(height, width) to downscale")
  return opts


def split_folder(split: str) -> str:
  if split not in SPLIT_FOLDERS:
    raise ConfigError(f"Cityscapes split {split!r}; expected one of {', '.join(SPLIT_FOLDERS)} "
                      "(config.eval_splits / config.data.train_split)")
  return SPLIT_FOLDERS[split]


def list_split(root, split: str) -> list[tuple[str, str, str]]:
  """(image, label, disparity) paths of every example of `split`, sorted by city and stem. Lists the
  folders only (fast); raises DataError naming the first missing folder or file."""
  folder = split_folder(split)
  if root is None:
    raise ConfigError(f"config.data.data_dir: not set; {_hint()}")
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise errors.DataError(f"{root}: Cityscapes root not found (config.data.data_dir); {_hint()}")
  for top, _ in FOLDERS:
    path = os.path.join(root, top, folder)
    if not os.path.isdir(path):
      raise errors.DataError(f"{path}: missing split folder of split {split!r}; {_hint(root)}")
  image_dir = os.path.join(root, "leftImg8bit", folder)
  examples, missing = [], []
  for city in sorted(e.name for e in os.scandir(image_dir) if e.is_dir()):
    listed = {}
    for top, suffix in FOLDERS[1:]:
      city_dir = os.path.join(root, top, folder, city)
      listed[top] = set(os.listdir(city_dir)) if os.path.isdir(city_dir) else set()
    for name in sorted(os.listdir(os.path.join(image_dir, city))):
      if not name.endswith(FOLDERS[0][1]):
        continue
      stem = name[:-len(FOLDERS[0][1])]
      paths = [os.path.join(image_dir, city, name)]
      for top, suffix in FOLDERS[1:]:
        paths.append(os.path.join(root, top, folder, city, stem + suffix))
        if stem + suffix not in listed[top]:
          missing.append((paths[-1], paths[0]))
      examples.append(tuple(paths))
  if missing:
    raise errors.DataError(f"{missing[0][0]}: not found, the label or disparity file of {missing[0][1]} "
                           f"({len(missing)} such files missing in split {split!r}); {_hint(root)}")
  if not examples:
    raise errors.DataError(f"{image_dir}: no <city>/<stem>_leftImg8bit.png images in split {split!r}; {_hint(root)}")
  return examples


def _open(path: str) -> Image.Image:
  try:
    image = Image.open(path)
    image.load()
    return image
  except (OSError, SyntaxError, ValueError) as e:
    raise errors.DataError(f"{path}: unreadable PNG ({e}); {_hint()}") from None


def header_shape(paths) -> tuple[int, int]:
  """(H, W) of an example from its three PNG headers (nothing decoded); DataError if they differ."""
  sizes = []
  for path in paths:
    try:
      with Image.open(path) as image:
        sizes.append(image.size[::-1])
    except (OSError, SyntaxError, ValueError) as e:
      raise errors.DataError(f"{path}: unreadable PNG ({e}); {_hint()}") from None
  if len(set(sizes)) != 1:
    raise errors.DataError(f"{paths[0]}: image, label and disparity shapes differ "
                           f"({', '.join(f'{p}: {h}x{w}' for p, (h, w) in zip(paths, sizes))}); {_hint()}")
  return sizes[0]


def decode_disparity(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(disparity, mask) of 16-bit PNG values p: (p - 1) / 32768 where p > 0, else 0 (§4.3)."""
  p = np.asarray(p)
  mask = p > 0
  disparity = np.where(mask, (p.astype(np.float32) - DISPARITY_OFFSET) / DISPARITY_SCALE, np.float32(0))
  return disparity.astype(np.float32), mask.astype(np.float32)


def _nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """Nearest-neighbour resize by pixel centres (PIL's NEAREST convention)."""
  h, w = array.shape[:2]
  rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
  cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
  return array[rows[:, None], cols[None, :]]


def colour_jitter(image: np.ndarray, rng: np.random.Generator, strength=(0.5, 0.5, 0.5)) -> np.ndarray:
  """Brightness, contrast and saturation of float `image` [H, W, 3] in [0, 1], in a random order, with factors
  uniform in [max(0, 1 - j), 1 + j]; the float analogue of torchvision's ColorJitter (not bit-identical)."""
  factors = [rng.uniform(max(0.0, 1.0 - j), 1.0 + j) for j in strength]
  for op in rng.permutation(3):
    f = np.float32(factors[op])
    if op == 0:
      image = image * f
    elif op == 1:
      image = f * image + (1 - f) * np.float32(np.mean(image @ GRAY))
    else:
      image = f * image + (1 - f) * (image @ GRAY)[..., None]
    image = np.clip(image, 0.0, 1.0)
  return image.astype(np.float32, copy=False)


@dataclasses.dataclass(frozen=True)
class Reader:
  """Decodes one example (and augments it when `rng` is given); `shape` is the expected (H, W) on disk."""
  shape: tuple[int, int]
  resize: tuple[int, int] | None = None
  crop: tuple[int, int] | None = None
  flip: bool = False
  jitter: tuple[float, float, float] = (0.0, 0.0, 0.0)

  @property
  def out_shape(self) -> tuple[int, int]:
    return self.crop or self.resize or self.shape

  def __call__(self, paths, rng: np.random.Generator | None = None) -> dict:
    image, label, raw = (_open(p) for p in paths)
    for path, im in zip(paths, (image, label, raw)):
      if im.size[::-1] != tuple(self.shape):
        raise errors.DataError(f"{path}: shape {im.size[1]}x{im.size[0]}, expected {self.shape[0]}x{self.shape[1]} "
                               f"like the split's first image; {_hint()}")
    if raw.mode not in ("I;16", "I;16B", "I;16L", "I"):
      raise errors.DataError(f"{paths[2]}: PNG mode {raw.mode!r}, expected a 16-bit grayscale disparity PNG; {_hint()}")
    if label.mode not in ("L", "P"):
      raise errors.DataError(f"{paths[1]}: PNG mode {label.mode!r}, expected 8-bit labelIds; {_hint()}")
    image = image.convert("RGB") if image.mode != "RGB" else image
    if self.resize and self.resize != tuple(self.shape):
      image = image.resize(self.resize[::-1], Image.BILINEAR)
    image, label, raw = np.asarray(image), np.asarray(label), np.asarray(raw)
    if self.resize and self.resize != tuple(self.shape):
      label, raw = _nearest(label, self.resize), _nearest(raw, self.resize)
    label = LABEL_TO_TRAIN_ID[label]
    if rng is not None and self.crop:
      (h, w), (ch, cw) = image.shape[:2], self.crop
      top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
      image, label, raw = (a[top:top + ch, left:left + cw] for a in (image, label, raw))
    if rng is not None and self.flip and rng.random() < 0.5:
      image, label, raw = image[:, ::-1], label[:, ::-1], raw[:, ::-1]
    image = image.astype(np.float32) / np.float32(255)
    if rng is not None and any(self.jitter):
      image = colour_jitter(image, rng, self.jitter)
    disparity, mask = decode_disparity(raw)
    return dict(image=np.ascontiguousarray(image), label=label.astype(np.int32), disparity=disparity,
                disparity_mask=mask)

  def zeros(self) -> dict:
    h, w = self.out_shape
    return dict(image=np.zeros((h, w, 3), np.float32), label=np.zeros((h, w), np.int32),
                disparity=np.zeros((h, w), np.float32), disparity_mask=np.zeros((h, w), np.float32))


def _stack(examples, n: int, shared: bool = False) -> dict:
  """The n dicts of `examples` (an iterable) stacked as they come; into grain SharedMemoryArrays in a worker,
  which then reach the main process without another copy (a 1024x2048 batch of 4 is 200 MB)."""
  out = None
  for i, example in enumerate(examples):
    if out is None:
      if shared:
        from grain.python import SharedMemoryArray
        out = {k: SharedMemoryArray((n,) + v.shape, v.dtype) for k, v in example.items()}
      else:
        out = {k: np.empty((n,) + v.shape, v.dtype) for k, v in example.items()}
    for k, v in example.items():
      out[k][i] = v
  return out


@dataclasses.dataclass
class TrainBatches:
  """position -> this host's slice of global batch `position` (an element of the grain MapDataset)."""
  examples: list
  reader: Reader
  global_batch: int
  seed: int
  process_index: int
  process_count: int
  shared_memory: bool = False  # set on the copy that grain workers run

  def __post_init__(self):
    self.batches_per_epoch = len(self.examples) // self.global_batch
    self._epoch, self._perm = None, None

  def permutation(self, epoch: int) -> np.ndarray:
    if epoch != self._epoch:
      self._epoch, self._perm = epoch, np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.examples))
    return self._perm

  def indices(self, position: int) -> np.ndarray:
    """Example indices of this host's slice of global batch `position`."""
    epoch, b = divmod(int(position), self.batches_per_epoch)
    per_host = self.global_batch // self.process_count
    start = b * self.global_batch + self.process_index * per_host
    return self.permutation(epoch)[start:start + per_host]

  def __call__(self, position: int) -> dict:
    epoch = int(position) // self.batches_per_epoch
    idx = self.indices(position)
    return _stack((self.reader(self.examples[i], np.random.default_rng([self.seed, 1, epoch, int(i)])) for i in idx),
                  len(idx), self.shared_memory)


@dataclasses.dataclass
class EvalBatches:
  """g -> this host's slice of padded global batch g, with `mask` (1 real, 0 padding)."""
  examples: list
  reader: Reader
  global_batch: int
  process_index: int
  process_count: int
  shared_memory: bool = False  # set on the copy that grain workers run

  def __call__(self, g: int) -> dict:
    per_host = self.global_batch // self.process_count
    start = int(g) * self.global_batch + self.process_index * per_host
    idx = range(start, start + per_host)
    batch = _stack((self.reader(self.examples[i]) if i < len(self.examples) else self.reader.zeros() for i in idx),
                   per_host, self.shared_memory)
    batch["mask"] = np.array([i < len(self.examples) for i in idx], np.float32)
    return batch


def _iterate(fn, start: int, stop: int, num_workers: int):
  """A grain iterator over fn(start), ..., fn(stop - 1), in order, decoded by `num_workers` processes."""
  import grain
  from absl import flags
  if num_workers and not flags.FLAGS.is_parsed():  # grain 0.2 reads an absl flag when it starts workers
    flags.FLAGS.mark_as_parsed()
  if num_workers:
    fn = copy.copy(fn)
    fn.shared_memory = True
  ds = grain.MapDataset.range(start, stop).map(fn)
  if num_workers:  # each worker decodes its elements one at a time, WORKER_BUFFER ahead.
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers, per_worker_buffer_size=WORKER_BUFFER))
  else:  # in this process, one batch ahead in a thread.
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=1))
  return iter(ds)


def _close(it) -> None:
  close = getattr(it, "close", None)
  if close is not None:
    close()


def _check_divides(global_batch: int, process_count: int, field: str) -> None:
  if global_batch % process_count:
    raise ConfigError(f"config.data.{field}: {global_batch} does not split over {process_count} processes")


def _check_crop(crop, reader: Reader, split: str) -> None:
  size = reader.resize or reader.shape
  if crop and (crop[0] > size[0] or crop[1] > size[1]):
    raise ConfigError(f"config.data.options.crop: {crop} is larger than the {size[0]}x{size[1]} images of "
                      f"split {split!r}")


def ensure_fake_tree(root, spec: dict) -> None:
  """Writes `cityscapes_fake.write_fake_tree(root, **spec)` unless `root` already holds leftImg8bit/ (the
  `fake_tree` option of smoke configs); the tree is written beside `root` and moved in, so a reader never
  sees half of it."""
  if root is None:
    raise ConfigError("config.data.data_dir: not set; config.data.options.fake_tree needs a folder to write to")
  root = os.fspath(root)
  if os.path.isdir(os.path.join(root, "leftImg8bit")):
    return
  from lossyless_jax.data import cityscapes_fake
  spec = dict(spec)
  splits = {k: spec.pop(k) for k in ("train", "val", "test") if k in spec} or None
  tmp = f"{root.rstrip(os.sep)}.tmp-{os.getpid()}"
  cityscapes_fake.write_fake_tree(tmp, splits=splits, **spec)
  os.makedirs(root, exist_ok=True)
  for top, _ in reversed(FOLDERS):  # leftImg8bit last: it marks a complete tree
    try:
      os.rename(os.path.join(tmp, top), os.path.join(root, top))
    except OSError:  # another process got there first
      pass
  shutil.rmtree(tmp, ignore_errors=True)


def _examples(data_config, split: str, opts: dict) -> tuple[list, Reader]:
  if opts["fake_tree"] is not None:
    ensure_fake_tree(data_config.get("data_dir"), opts["fake_tree"])
  examples = list_split(data_config.get("data_dir"), split)
  if opts["max_examples"]:
    examples = examples[:opts["max_examples"]]
  return examples, Reader(header_shape(examples[0]), opts["resize"])


class TrainIterator:
  """Infinite, resumable iterator of this host's slice of each global batch of a Cityscapes split."""

  def __init__(self, data_config, process_index: int = 0, process_count: int = 1, split: str | None = None):
    opts = parse_options(data_config)
    split = split or data_config.get("train_split", "train")
    global_batch = int(data_config.batch_size)
    _check_divides(global_batch, process_count, "batch_size")
    examples, reader = _examples(data_config, split, opts)
    _check_crop(opts["crop"], reader, split)
    if len(examples) < global_batch:
      raise ConfigError(f"config.data.batch_size: {global_batch} is larger than the {len(examples)} examples of "
                        f"Cityscapes split {split!r} in {data_config.data_dir}")
    reader = dataclasses.replace(reader, crop=opts["crop"], flip=bool(opts["flip"]), jitter=opts["colour_jitter"])
    self.batches = TrainBatches(examples, reader, global_batch, int(data_config.seed), process_index, process_count)
    self.num_examples, self.batches_per_epoch = len(examples), self.batches.batches_per_epoch
    self.num_workers = opts["num_workers"]
    self.position, self._it = 0, None

  def state(self) -> dict:
    epoch, batch = divmod(self.position, self.batches_per_epoch)
    return {"position": self.position, "epoch": epoch, "batch": batch}

  def restore(self, state: dict) -> None:
    self.close()
    self.position = int(state["position"])

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self._it is None:
      self._it = _iterate(self.batches, self.position, 2 ** 62, self.num_workers)
    batch = next(self._it)
    self.position += 1
    return {k: np.asarray(v) for k, v in batch.items()}

  def close(self) -> None:
    it, self._it = self._it, None
    if it is not None:
      _close(it)

  def __del__(self):
    try:
      self.close()
    except Exception:  # interpreter shutdown
      pass


class EvalSplit:
  """One ordered pass per iteration over a Cityscapes split, streamed in padded global batches with `mask`."""

  def __init__(self, data_config, split: str, process_index: int = 0, process_count: int = 1):
    opts = parse_options(data_config)
    global_batch = int(data_config.eval_batch_size)
    _check_divides(global_batch, process_count, "eval_batch_size")
    examples, reader = _examples(data_config, split, opts)
    self.split, self.num_workers = split, opts["num_workers"]
    self.batches = EvalBatches(examples, reader, global_batch, process_index, process_count)
    self.num_batches = -(-len(examples) // global_batch)

  @property
  def num_examples(self) -> int:
    return len(self.batches.examples)

  def __iter__(self):
    it = _iterate(self.batches, 0, self.num_batches, self.num_workers)
    try:
      for batch in it:
        yield {k: np.asarray(v) for k, v in batch.items()}
    finally:
      _close(it)


def build(data_config, split: str, process_index: int = 0, process_count: int = 1):
  """`data.build` for Cityscapes: a TrainIterator over `data_config.train_split` for 'train', else an EvalSplit."""
  if split == "train":
    return TrainIterator(data_config, process_index, process_count)
  return EvalSplit(data_config, split, process_index, process_count)


def check(data_config, splits=None) -> dict:
  """Validates the options and the tree in about a second (files listed, only the first example's PNG
  headers read); returns {split: number of examples}. Splits default to the train split and 'validation'."""
  opts = parse_options(data_config)
  splits = splits or (data_config.get("train_split", "train"), "validation")
  counts = {}
  for split in splits:
    examples, reader = _examples(data_config, split, opts)
    _check_crop(opts["crop"], reader, split)
    counts[split] = len(examples)
  return counts


def load_arrays(data_config, split: str, max_bytes: float = 2 ** 31) -> dict:
  """A whole split in memory (for small trees: smoke runs, tests); ConfigError if it would exceed `max_bytes`."""
  opts = parse_options(data_config)
  examples, reader = _examples(data_config, split, opts)
  h, w = reader.out_shape
  size = len(examples) * h * w * 24
  if size > max_bytes:
    raise ConfigError(f"config.data.name: Cityscapes split {split!r} would take {size / 2 ** 30:.1f} GiB in memory; "
                      f"iterate data.build(config.data, {split!r}) (streamed batches) instead")
  return _stack((reader(paths) for paths in examples), len(examples))
