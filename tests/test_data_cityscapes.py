"""The Cityscapes reader (Gray-Wyner §4.3) on real PNG trees written by `cityscapes_fake`: label map,
disparity decoding, augmentation, host sharding, mid-epoch resume, padded evaluation and the error messages."""
import json
import os
import shutil
import time

import ml_collections
import numpy as np
import pytest
from PIL import Image

from lossyless_jax import config as config_lib
from lossyless_jax import data, errors
from lossyless_jax.data import cityscapes as cs
from lossyless_jax.data import cityscapes_fake as fake

H, W = 32, 64
VALID_IDS = sorted(int(i) for i in np.flatnonzero(cs.LABEL_TO_TRAIN_ID != cs.IGNORE_INDEX))  # trainId k at VALID_IDS[k]


def _config(root, batch_size=4, eval_batch_size=4, **options):
  c = config_lib.base_config().data
  c.name, c.data_dir, c.batch_size, c.eval_batch_size = "cityscapes", str(root), batch_size, eval_batch_size
  c.options = ml_collections.ConfigDict(dict(dict(num_workers=0), **options))
  return c


def _take(it, n):
  try:
    return [next(it) for _ in range(n)]
  finally:
    it.close()


def _equal(a, b):
  assert sorted(a) == sorted(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("cityscapes"))
  fake.write_fake_tree(root, splits={"train": 10, "val": 5}, height=H, width=W, seed=3)
  return root


@pytest.fixture(scope="module")
def column_tree(tmp_path_factory):
  """Every pixel of column c says c three ways: red = 2c, trainId = c mod 19, disparity p = 100c + 1."""
  root = str(tmp_path_factory.mktemp("columns"))
  c = np.broadcast_to(np.arange(W), (H, W))
  image = np.stack([2 * c, 255 - c, np.zeros_like(c)], -1).astype(np.uint8)
  label = np.asarray(VALID_IDS, np.uint8)[c % 19]
  disparity = (100 * c + 1).astype(np.uint16)
  for i in range(8):
    fake.write_example(root, "train", "city0", f"city0_{i:06d}_000019", image, label, disparity)
  return root


def test_label_map_matches_cityscapesscripts():
  labels = pytest.importorskip("cityscapesscripts.helpers.labels",
                               reason="cityscapesscripts is not installed (pip install --no-deps cityscapesscripts); "
                                      "the official id -> trainId table cannot be compared")
  expected = np.full(256, cs.IGNORE_INDEX, np.uint8)
  for label in labels.labels:
    if label.id >= 0:
      expected[label.id] = cs.IGNORE_INDEX if label.trainId in (255, -1) else label.trainId
  np.testing.assert_array_equal(cs.LABEL_TO_TRAIN_ID, expected)


def test_label_map_direct():
  lut = cs.LABEL_TO_TRAIN_ID
  assert lut.dtype == np.uint8 and lut.shape == (256,) and cs.NUM_CLASSES == cs.IGNORE_INDEX == 19
  assert [lut[i] for i in (7, 8, 11, 24, 26, 33)] == [0, 1, 2, 11, 13, 18]
  assert [lut[i] for i in (0, 6, 9, 29, 30, 34, 255)] == [19] * 7
  assert sorted(lut[VALID_IDS].tolist()) == list(range(19))


def test_disparity_decoding(tmp_path):
  p = np.array([[0, 1, 2], [257, 32769, 65535]], np.uint16)
  path = str(tmp_path / "x_disparity.png")
  Image.fromarray(p).save(path)
  with Image.open(path) as im:
    assert im.mode == "I;16"
    raw = np.asarray(im)
  disparity, mask = cs.decode_disparity(raw)
  np.testing.assert_array_equal(mask, [[0, 1, 1], [1, 1, 1]])
  np.testing.assert_allclose(disparity, [[0, 0, 1 / 32768], [256 / 32768, 1, 65534 / 32768]], rtol=0, atol=1e-7)
  assert disparity.dtype == mask.dtype == np.float32
  # the same through the reader, with a file's image and label
  image = np.zeros((2, 3, 3), np.uint8)
  fake.write_example(str(tmp_path), "val", "c", "c_0", image, np.full((2, 3), 26, np.uint8), p)
  (batch,) = list(cs.EvalSplit(_config(tmp_path, eval_batch_size=1), "validation"))
  np.testing.assert_array_equal(batch["disparity"][0], disparity)
  np.testing.assert_array_equal(batch["disparity_mask"][0], mask)
  np.testing.assert_array_equal(batch["label"][0], np.full((2, 3), 13))


def test_fake_tree_layout(tmp_path):
  stems = fake.write_fake_tree(str(tmp_path / "a"), splits={"train": 3, "val": 2}, cities=2, height=H, width=W, seed=1)
  assert sorted(stems) == ["train", "val"] and len(stems["train"]) == 3
  for split, names in stems.items():
    for stem in names:
      city = stem.split("_")[0]
      paths = [tmp_path / "a" / top / split / city / f"{stem}{suffix}" for top, suffix in cs.FOLDERS]
      modes = []
      for path in paths:
        with Image.open(path) as im:
          modes.append(im.mode)
          assert im.size == (W, H)
      assert modes == ["RGB", "L", "I;16"]
  label = np.asarray(Image.open(paths[1]))
  disparity = np.asarray(Image.open(paths[2]))
  assert (cs.LABEL_TO_TRAIN_ID[label] == 19).any() and (cs.LABEL_TO_TRAIN_ID[label] < 19).any()
  assert (disparity == 0).any() and disparity.max() > 255
  fake.write_fake_tree(str(tmp_path / "b"), splits={"train": 3, "val": 2}, height=H, width=W, seed=1)
  fake.write_fake_tree(str(tmp_path / "c"), splits={"train": 3, "val": 2}, height=H, width=W, seed=2)
  rel = os.path.relpath(paths[0], tmp_path / "a")
  read = lambda d: (tmp_path / d / rel).read_bytes()
  assert read("a") == read("b") != read("c")
  assert cs.check(_config(tmp_path / "a")) == {"train": 3, "validation": 2}
  smoke = _config(tmp_path / "smoke", fake_tree=dict(train=4, val=2, height=16, width=32))  # smoke configs' option
  assert data.check(smoke) == {"train": 4, "validation": 2}
  written = os.path.getmtime(tmp_path / "smoke" / "leftImg8bit")
  assert data.build(smoke, "validation").num_examples == 2 and sorted(os.listdir(tmp_path)) == ["a", "b", "c", "smoke"]
  assert os.path.getmtime(tmp_path / "smoke" / "leftImg8bit") == written  # written once


def test_train_batches_shapes_dtypes_ranges(tree):
  it = data.build(_config(tree), "train")
  assert isinstance(it, cs.TrainIterator) and it.num_examples == 10 and it.batches_per_epoch == 2
  assert json.loads(json.dumps(it.state())) == {"position": 0, "epoch": 0, "batch": 0}
  for b in _take(it, 3):
    assert {k: (v.shape, v.dtype) for k, v in b.items()} == {
        "image": ((4, H, W, 3), np.float32), "label": ((4, H, W), np.int32),
        "disparity": ((4, H, W), np.float32), "disparity_mask": ((4, H, W), np.float32)}
    assert 0 <= b["image"].min() and b["image"].max() <= 1 and b["image"].std() > 0.1
    assert 0 <= b["label"].min() and b["label"].max() == 19 and len(np.unique(b["label"])) > 10
    assert set(np.unique(b["disparity_mask"])) == {0.0, 1.0}
    assert (b["disparity"][b["disparity_mask"] == 0] == 0).all()
    assert 0 <= b["disparity"].min() < b["disparity"].max() < 1
  assert it.state() == {"position": 3, "epoch": 1, "batch": 1}
  assert "cityscapes" in data.names()


def test_flip_is_joint(column_tree):
  batches = _take(data.build(_config(column_tree, colour_jitter=0.0), "train"), 4)
  flipped = []
  for b in batches:
    c = np.rint(b["disparity"] * 32768 / 100).astype(np.int64)  # the column each pixel came from
    np.testing.assert_array_equal(b["label"], c % 19)
    np.testing.assert_array_equal(np.rint(b["image"][..., 0] * 255), 2 * c)
    np.testing.assert_array_equal(np.rint(b["image"][..., 1] * 255), 255 - c)
    flipped += [bool(x) for x in c[:, 0, 0] == W - 1]
    assert set(c[:, 0, 0].tolist()) <= {0, W - 1}
  assert 0 < sum(flipped) < len(flipped), flipped  # some flipped, some not
  _equal(batches[0], _take(data.build(_config(column_tree, colour_jitter=0.0), "train"), 1)[0])  # seeded
  no_flip = _take(data.build(_config(column_tree, colour_jitter=0.0, flip=False), "train"), 4)
  assert all((np.rint(b["disparity"][:, 0, 0] * 32768) == 0).all() for b in no_flip)


def test_jitter_changes_the_image_only(tree):
  plain = _take(data.build(_config(tree, colour_jitter=0.0), "train"), 2)
  jittered = _take(data.build(_config(tree, colour_jitter=0.5), "train"), 2)
  for a, b in zip(plain, jittered):
    for k in ("label", "disparity", "disparity_mask"):
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert np.abs(a["image"] - b["image"]).mean() > 0.02
    assert 0 <= b["image"].min() and b["image"].max() <= 1
  rng = np.random.default_rng(0)
  grey = np.full((4, 4, 3), 0.5, np.float32)  # on a grey image only brightness acts
  out = cs.colour_jitter(grey, np.random.default_rng(0), (0.5, 0.5, 0.5))
  factors = [rng.uniform(0.5, 1.5) for _ in range(3)]
  np.testing.assert_allclose(out, np.clip(0.5 * factors[0], 0, 1), rtol=1e-5)


def test_crop_and_resize(tree):
  full = list(cs.EvalSplit(_config(tree, eval_batch_size=10), "train"))[0]
  batches = _take(data.build(_config(tree, crop=(16, 24), flip=False, colour_jitter=0.0), "train"), 2)
  corners = set()
  for b in batches:
    assert b["image"].shape == (4, 16, 24, 3) and b["label"].shape == b["disparity_mask"].shape == (4, 16, 24)
    for img, lab in zip(b["image"], b["label"]):  # a window of one of the full images
      hits = [(i, y, x) for i in range(10) for y in range(H - 15) for x in range(W - 23)
              if np.array_equal(full["image"][i, y:y + 16, x:x + 24], img)]
      assert len(hits) == 1, len(hits)
      i, y, x = hits[0]
      np.testing.assert_array_equal(full["label"][i, y:y + 16, x:x + 24], lab)
      corners.add((y, x))
  assert len(corners) > 4, corners  # random offsets
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.options\.crop: \(33, 8\) is larger than the 32x64"):
    data.build(_config(tree, crop=(33, 8)), "train")
  small = _take(data.build(_config(tree, resize=(16, 32)), "train"), 1)[0]
  assert small["image"].shape == (4, 16, 32, 3) and small["disparity"].shape == (4, 16, 32)
  assert set(np.unique(small["label"])) <= set(np.unique(full["label"]))  # nearest: no new labels
  (ev,) = list(cs.EvalSplit(_config(tree, resize=(16, 32), eval_batch_size=5), "validation"))
  assert ev["image"].shape == (5, 16, 32, 3)


def test_host_sharding(tree):
  whole = _take(data.build(_config(tree), "train", 0, 1), 3)
  halves = [_take(data.build(_config(tree), "train", pi, 2), 3) for pi in (0, 1)]
  for g, (a, b) in enumerate(zip(*halves)):
    assert a["image"].shape[0] == b["image"].shape[0] == 2
    _equal({k: np.concatenate([a[k], b[k]]) for k in a}, whole[g])
  it0, it1 = (data.build(_config(tree), "train", pi, 2) for pi in (0, 1))
  for position in range(4):
    i0, i1 = it0.batches.indices(position), it1.batches.indices(position)
    assert len(i0) == len(i1) == 2 and not set(i0) & set(i1)
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.batch_size: 4 does not split over 3"):
    data.build(_config(tree), "train", 0, 3)


def test_resume_mid_epoch_with_workers(tree):
  uninterrupted = _take(data.build(_config(tree), "train"), 5)  # 2 batches per epoch: crosses two epoch ends
  it = data.build(_config(tree, num_workers=1), "train")
  first = _take(it, 3)
  state = json.loads(json.dumps(it.state()))
  assert state["position"] == 3 and state["epoch"] == 1 and state["batch"] == 1
  fresh = data.build(_config(tree, num_workers=1), "train")
  fresh.restore(state)
  rest = _take(fresh, 2)
  for a, b in zip(first + rest, uninterrupted):  # workers or not, resumed or not: the same batches
    _equal(a, b)
  order = data.build(_config(tree), "train").batches
  assert sorted(order.indices(0)) != sorted(order.indices(2))  # each epoch has its own permutation
  assert len(set(np.concatenate([order.indices(2), order.indices(3)]).tolist())) == 8  # no repeats in an epoch


def test_eval_split_padding_and_mask(tree):
  split = data.build(_config(tree), "validation")
  assert isinstance(split, cs.EvalSplit) and split.num_examples == 5
  batches = list(split)
  assert [b["mask"].tolist() for b in batches] == [[1, 1, 1, 1], [1, 0, 0, 0]]
  for k in ("image", "label", "disparity", "disparity_mask"):
    assert batches[1][k].shape[0] == 4 and (batches[1][k][1:] == 0).all()
  for a, b in zip(batches, list(split)):  # re-iterable, no augmentation
    _equal(a, b)
  arrays = data.load_arrays(_config(tree), "validation")
  np.testing.assert_array_equal(arrays["image"], np.concatenate([b["image"] for b in batches])[:5])
  hosts = [list(data.build(_config(tree), "validation", pi, 2)) for pi in (0, 1)]
  assert [b["mask"].tolist() for b in hosts[1]] == [[1, 1], [0, 0]]
  np.testing.assert_array_equal(hosts[1][0]["label"], batches[0]["label"][2:])


def _copy(tree, tmp_path):
  root = str(tmp_path / "copy")
  shutil.copytree(tree, root)
  return root


def test_error_messages(tree, tmp_path):
  layout = "leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png"
  start = time.perf_counter()
  missing = str(tmp_path / "nowhere")
  for split in ("train", "validation"):
    with pytest.raises(errors.DataError) as e:
      data.build(_config(missing), split)
    assert missing in str(e.value) and "config.data.data_dir" in str(e.value) and layout in str(e.value)
    assert "gtFine/{split}/<city>/<stem>_gtFine_labelIds.png" in str(e.value) and "_disparity.png" in str(e.value)
  assert time.perf_counter() - start < 2
  unset = _config(tree)
  unset.data_dir = None
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.data_dir: not set.*leftImg8bit"):
    data.check(unset)

  root = _copy(tree, tmp_path)
  label = os.path.join(root, "gtFine", "val", "city1", "city1_000001_000019_gtFine_labelIds.png")
  os.remove(label)
  with pytest.raises(errors.DataError) as e:
    data.build(_config(root), "validation")
  assert label in str(e.value) and "config.data.data_dir" in str(e.value) and layout in str(e.value)
  assert "city1_000001_000019_leftImg8bit.png" in str(e.value)
  data.build(_config(root), "train")  # the other split is complete

  shutil.rmtree(os.path.join(root, "disparity", "train"))
  with pytest.raises(errors.DataError, match=r"disparity/train: missing split folder.*config\.data\.data_dir"):
    data.check(_config(root))
  for city in ("city0", "city1"):
    shutil.rmtree(os.path.join(root, "leftImg8bit", "val", city))
  with pytest.raises(errors.DataError, match=r"leftImg8bit/val: no <city>/<stem>_leftImg8bit.png images"):
    data.build(_config(root), "validation")

  root = _copy(tree, tmp_path / "2")
  disparity = os.path.join(root, "disparity", "val", "city0", "city0_000004_000019_disparity.png")
  Image.fromarray(np.ones((H, W + 1), np.uint16)).save(disparity)
  split = data.build(_config(root), "validation")  # headers of the first example only: fast
  with pytest.raises(errors.DataError, match=rf"{disparity}: shape 32x65, expected 32x64.*config\.data\.data_dir"):
    list(split)
  first = os.path.join(root, "gtFine", "val", "city0", "city0_000000_000019_gtFine_labelIds.png")
  Image.fromarray(np.ones((H + 1, W), np.uint8)).save(first)
  with pytest.raises(errors.DataError, match=r"image, label and disparity shapes differ.*32x64.*33x64"):
    cs.check(_config(root), splits=("validation",))

  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.options\.flips: unknown Cityscapes option"):
    data.build(_config(tree, flips=False), "train")
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.options\.num_workers: -1"):
    data.build(_config(tree, num_workers=-1), "train")
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.batch_size: 16 is larger than the 10 examples"):
    data.build(_config(tree, batch_size=16), "train")
