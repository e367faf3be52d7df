"""Peak host memory and time of NERD evaluation with a large M on scikit-learn's digits.

Usage: python benchmarks/nerd_eval_memory.py [--num_samples 40000] [--chunk_size 4000] [--smoke]
Prints one JSON line: points, M, chunk size, seconds, peak resident memory (GiB) of this process.
The read-outs stream over chunks of generator samples (`nerd_readouts_chunked`), so memory is
O(points x chunk), not O(points x M). `--smoke`: M = 900 in chunks of 250 (the last one masked),
for the test suite.
"""
import argparse
import json
import resource
import time

import jax
import numpy as np

from lossyless_jax.data import digits
from lossyless_jax.losses import nerd
from lossyless_jax.nets import generators


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--num_samples", type=int, help="M (default 40000; --smoke: 900)")
  parser.add_argument("--chunk_size", type=int, help="generator samples per chunk (default 4000; --smoke: 250)")
  parser.add_argument("--smoke", action="store_true", help="tiny M, for the test suite")
  args = parser.parse_args()
  if args.num_samples is None:
    args.num_samples = 900 if args.smoke else 40_000
  if args.chunk_size is None:
    args.chunk_size = 250 if args.smoke else 4000
  x = np.concatenate([digits.load(s)["image"] for s in digits.SPLITS]).reshape(-1, 64)
  module = generators.FCGenerator(out_dim=64, hidden=(128, 128))
  variables = module.init(jax.random.PRNGKey(0), np.zeros((1, 32), np.float32))
  sample_fn = generators.make_sample_fn(module, variables, 32)
  t0 = time.time()
  out = nerd.nerd_readouts_chunked(x, sample_fn, jax.random.PRNGKey(1), np.array([-1.0, -0.1]), args.num_samples,
                                   chunk_size=args.chunk_size)
  seconds = time.time() - t0
  peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
  print(json.dumps({"name": "nerd_eval_digits", "points": int(x.shape[0]), "M": args.num_samples,
                    "chunk_size": args.chunk_size, "seconds": round(seconds, 2), "peak_rss_gib": round(peak_gib, 3),
                    "R_bits": [round(float(r), 3) for r in out["rate_bits"]]}))


if __name__ == "__main__":
  main()
