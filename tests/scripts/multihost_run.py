"""One process of a local multi-host run: `python multihost_run.py WORKDIR PROCESS_ID NUM_PROCESSES PORT`.

With NUM_PROCESSES=1 it is the single-process reference. Each process runs the real
`train_and_eval` and the test method's report saves the parameters it holds.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loop_method  # noqa: E402
from lossyless_jax import train  # noqa: E402

workdir, pid, nproc, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
overrides = {"num_steps": 8, "eval_every": 4, "checkpoint.every": 4, "report_on": "last", "data.batch_size": 32,
             "model.save_params": True}
if nproc > 1:
  overrides.update({"distributed.coordinator_address": f"localhost:{port}", "distributed.num_processes": nproc,
                    "distributed.process_id": pid})
train.train_and_eval(loop_method.get_config(**overrides), workdir)
