"""A small fake Cityscapes tree in the official layout, for tests and smoke runs (Gray-Wyner §4.3).

`write_fake_tree(root, splits={"train": 8, "val": 4})` writes, for each split folder and city,
`leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png` (RGB uint8: random 8x8 colour blocks plus
noise, about as compressible as a photograph), `gtFine/<split>/<city>/<stem>_gtFine_labelIds.png`
(uint8 labelIds 0..33 in 8x8 blocks, many of which map to the ignore trainId 19) and
`disparity/<split>/<city>/<stem>_disparity.png` (uint16; about a tenth of the pixels 0 = invalid).
Everything is a function of `seed`. Command line, for a smoke run::

  python -m lossyless_jax.data.cityscapes_fake DIR [--height 64 --width 128 --train 8 --val 4]
"""
from __future__ import annotations

import argparse
import os
import zlib

import numpy as np
from PIL import Image

BLOCK = 8  # side of the constant blocks of colour and label.


def _blocks(rng: np.random.Generator, height: int, width: int, values: np.ndarray) -> np.ndarray:
  """`values` drawn per BLOCK x BLOCK block (trailing axes kept), cropped to height x width."""
  bh, bw = -(-height // BLOCK), -(-width // BLOCK)
  grid = values[rng.integers(0, len(values), size=(bh, bw))]
  return np.repeat(np.repeat(grid, BLOCK, 0), BLOCK, 1)[:height, :width]


def fake_example(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(RGB uint8 [H,W,3], labelIds uint8 [H,W], disparity uint16 [H,W]) of one random example."""
  colours = rng.integers(0, 256, size=(64, 3))
  image = _blocks(rng, height, width, colours) + rng.integers(-8, 9, size=(height, width, 3))
  label = _blocks(rng, height, width, np.arange(34)).astype(np.uint8)
  disparity = rng.integers(1, 32_768, size=(height, width)).astype(np.uint16)
  disparity[rng.random((height, width)) < 0.1] = 0
  return np.clip(image, 0, 255).astype(np.uint8), label, disparity


def write_example(root: str, split: str, city: str, stem: str, image: np.ndarray, label: np.ndarray,
                  disparity: np.ndarray) -> None:
  """Writes one example's three PNGs (uint8 RGB, uint8 labelIds, uint16 disparity) under `root`."""
  for folder, suffix, array in (("leftImg8bit", "leftImg8bit", image), ("gtFine", "gtFine_labelIds", label),
                                ("disparity", "disparity", disparity)):
    directory = os.path.join(root, folder, split, city)
    os.makedirs(directory, exist_ok=True)
    Image.fromarray(array).save(os.path.join(directory, f"{stem}_{suffix}.png"), compress_level=1)


def write_fake_tree(root: str, *, splits: dict | None = None, cities: int = 2, height: int = 64, width: int = 128,
                    seed: int = 0) -> dict:
  """Writes `splits[folder]` examples per split folder ("train", "val", "test"), spread over `cities`
  cities, under `root`; returns {folder: [stems]}. Deterministic in `seed`."""
  splits = {"train": 8, "val": 4} if splits is None else splits
  stems = {}
  for split, n in splits.items():
    stems[split] = []
    for i in range(n):
      city = f"city{i % cities}"
      stem = f"{city}_{i:06d}_000019"
      rng = np.random.default_rng([seed, zlib.crc32(split.encode()), i])
      image, label, disparity = fake_example(rng, height, width)
      write_example(root, split, city, stem, image, label, disparity)
      stems[split].append(stem)
  return stems


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("root", help="folder to write (leftImg8bit/, gtFine/, disparity/ are created in it)")
  parser.add_argument("--height", type=int, default=64)
  parser.add_argument("--width", type=int, default=128)
  parser.add_argument("--train", type=int, default=8, help="training examples")
  parser.add_argument("--val", type=int, default=4, help="validation examples")
  parser.add_argument("--cities", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  stems = write_fake_tree(args.root, splits={"train": args.train, "val": args.val}, cities=args.cities,
                          height=args.height, width=args.width, seed=args.seed)
  print(f"{args.root}: " + ", ".join(f"{len(v)} {k}" for k, v in stems.items())
        + f" examples of {args.height}x{args.width}; use --config.data.data_dir={args.root}")


if __name__ == "__main__":
  main()
