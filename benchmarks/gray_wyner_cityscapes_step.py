"""Time and peak memory of one Gray-Wyner Cityscapes training step (Gray-Wyner paper §4.3, Table 1).

The jitted step of the loop (`train.make_train_step`: loss, gradient through both frozen task
networks, Adam with clipping) on a device-resident batch of ``configs/gray_wyner_cityscapes.py``:
by default the paper's 1024×2048, batch 4, E = 192 with the real DeepLabV3+ and LRASPP (random
frozen weights: their values do not change the cost). Prints one JSON line per codec with the
compile time, the median step time over ``--steps`` steps and the device's peak memory (GPU:
``peak_bytes_in_use``; CPU: the process's peak RSS).

  python benchmarks/gray_wyner_cityscapes_step.py                      # needs a GPU-class device
  python benchmarks/gray_wyner_cityscapes_step.py --codec=joint --steps=5
  python benchmarks/gray_wyner_cityscapes_step.py --smoke              # 64×128, tiny nets (the suite)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _peak_memory_gib(device) -> tuple[float, str]:
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2 ** 30, "device peak_bytes_in_use"
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, "process peak RSS"


def run(codec: str, smoke: bool, steps: int, height: int | None, width: int | None) -> dict:
  import jax
  import numpy as np

  from lossyless_jax import config as config_lib
  from lossyless_jax import methods, optim, parallel, train
  config = config_lib.load(f"configs/gray_wyner_cityscapes.py:{'smoke,' if smoke else ''}{codec}")
  config.tasks.random_init = True
  config.tasks.segmentation_weights = config.tasks.depth_weights = ""
  h, w = (64, 128) if smoke else (1024, 2048)
  h, w = height or h, width or w
  b = int(config.data.batch_size)
  rng = np.random.default_rng(0)
  batch = {"image": rng.random((b, h, w, 3), dtype=np.float32),
           "label": rng.integers(0, 20, (b, h, w)).astype(np.int32),
           "disparity": rng.random((b, h, w), dtype=np.float32),
           "disparity_mask": (rng.random((b, h, w)) > 0.2).astype(np.float32)}
  method = methods.get("gray_wyner")
  mesh = parallel.make_mesh()
  params, model_state = method.init(jax.random.PRNGKey(0), batch, config)
  tx = optim.make_optimizer(config.optim, config.num_steps, params, method.param_labels)
  state = parallel.replicate(mesh, dict(step=np.int32(0), params=params, model_state=model_state,
                                        opt_state=tx.init(params), rng=jax.random.PRNGKey(1),
                                        nonfinite_step=np.int32(-1)))
  step = train.make_train_step(method, tx, config, mesh)
  device_batch = parallel.shard_batch(mesh, batch)
  t0 = time.perf_counter()
  state, metrics = step(state, device_batch)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    state, metrics = step(state, device_batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  peak, what = _peak_memory_gib(jax.devices()[0])
  return {"name": f"gray_wyner_cityscapes_step/{codec}", "codec": codec, "height": h, "width": w, "batch": b,
          "latent_channels": int(config.model.latent_channels), "tiny_task_nets": bool(config.tasks.tiny),
          "device": jax.devices()[0].device_kind, "first_step_s": compile_s,
          "step_s": float(np.median(times)), "steps": steps, "peak_memory_gib": peak, "memory": what,
          "loss": float(metrics["loss"])}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--smoke", action="store_true", help="64×128 images, tiny task nets, E = 8, 2 steps")
  p.add_argument("--codec", default="shared", help="comma-separated codecs (default shared)")
  p.add_argument("--steps", type=int, default=None, help="timed steps after the first (default 10; smoke 2)")
  p.add_argument("--height", type=int, default=None, help="override the image height")
  p.add_argument("--width", type=int, default=None, help="override the image width")
  args = p.parse_args()
  steps = args.steps or (2 if args.smoke else 10)
  for codec in args.codec.split(","):
    print(json.dumps(run(codec, args.smoke, steps, args.height, args.width)), flush=True)


if __name__ == "__main__":
  main()
