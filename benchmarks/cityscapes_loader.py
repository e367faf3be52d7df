"""Throughput of the Cityscapes training loader (Gray-Wyner §4.3) on a fake tree, by number of grain workers.

Usage: python benchmarks/cityscapes_loader.py [--height 1024 --width 2048 --images 16 --batch_size 4]
       [--workers 0,1,2] [--epochs 2] [--smoke]
Writes a fake tree (`cityscapes_fake`: block-random RGB, labelIds and 16-bit disparity PNGs) in a
temporary folder and times the training iterator with the paper's augmentation (joint flip, colour
jitter 0.5) over `epochs` epochs after its first batch (worker start-up is reported apart). Prints
one JSON line per worker count: samples/s, samples/s per worker (per process decoding: workers, or 1
for in-process), start-up seconds, the machine's cores and load. `--smoke`: 64x128, 4 images, batch 2,
workers 0 and 1, for the test suite.
"""
import argparse
import json
import os
import tempfile
import time

import ml_collections

from lossyless_jax import config as config_lib
from lossyless_jax import data
from lossyless_jax.data import cityscapes_fake


def measure(root: str, workers: int, batch_size: int, epochs: int, images: int) -> dict:
  c = config_lib.base_config().data
  c.name, c.data_dir, c.batch_size = "cityscapes", root, batch_size
  c.options = ml_collections.ConfigDict(dict(num_workers=workers, flip=True, colour_jitter=0.5))
  start = time.perf_counter()
  it = data.build(c, "train")
  try:
    first = next(it)
    startup = time.perf_counter() - start
    batches = epochs * it.batches_per_epoch
    start = time.perf_counter()
    for _ in range(batches):
      next(it)
    seconds = time.perf_counter() - start
  finally:
    it.close()
  samples = batches * batch_size
  h, w = first["image"].shape[1:3]
  return dict(name=f"cityscapes_loader/train/w{workers}", workers=workers, samples_per_s=samples / seconds,
              samples_per_s_per_worker=samples / seconds / max(1, workers), samples=samples, seconds=seconds,
              startup_s=startup, batch_size=batch_size, height=int(h), width=int(w), images=images,
              cpu_count=os.cpu_count(), load_avg_1min=os.getloadavg()[0])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--height", type=int, help="image height (default 1024; --smoke: 64)")
  parser.add_argument("--width", type=int, help="image width (default 2048; --smoke: 128)")
  parser.add_argument("--images", type=int, help="training images written (default 16; --smoke: 4)")
  parser.add_argument("--batch_size", type=int, help="global batch (default 4, the paper's; --smoke: 2)")
  parser.add_argument("--workers", help="comma-separated worker counts (default 0,1,2; --smoke: 0,1)")
  parser.add_argument("--epochs", type=int, default=2, help="epochs timed after the first batch")
  parser.add_argument("--smoke", action="store_true", help="tiny images, for the test suite")
  args = parser.parse_args()
  defaults = dict(height=64, width=128, images=4, batch_size=2, workers="0,1") if args.smoke else dict(
      height=1024, width=2048, images=16, batch_size=4, workers="0,1,2")
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  with tempfile.TemporaryDirectory(prefix="cityscapes_loader_") as root:
    start = time.perf_counter()
    cityscapes_fake.write_fake_tree(root, splits={"train": args.images}, height=args.height, width=args.width)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(json.dumps(dict(name="cityscapes_loader/setup", images=args.images, height=args.height, width=args.width,
                          tree_mib=size / 2 ** 20, write_s=time.perf_counter() - start)), flush=True)
    for workers in (int(w) for w in args.workers.split(",")):
      print(json.dumps(measure(root, workers, args.batch_size, args.epochs, args.images)), flush=True)


if __name__ == "__main__":
  main()
