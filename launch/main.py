"""Entry point: `python launch/main.py --config=configs/<name>.py[:arg] [--config.field=value ...] [--workdir=DIR]`.

Runs `lossyless_jax.train.train_and_eval(config, workdir)`; rerunning the same command resumes.
Without --config it runs the project's default experiment; without --workdir the run lives in
`workdirs/<config name>[_<arg>]`.
"""
import os

from absl import app, flags
from ml_collections import config_flags

from common import quiet_libraries, run_name
from lossyless_jax import train

# The default experiment: VIC on the augmented digits, with real bitstreams, probes and the
# PNG/JPEG/WebP baselines (about 4 minutes on 2 idle CPU cores).
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "digits_vic.py")
_CONFIG = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, "Experiment config file (configs/<name>.py[:arg]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, report); default workdirs/<config name>.")


def main(argv):
  quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  path = flags.FLAGS["config"].config_filename
  train.train_and_eval(_CONFIG.value, _WORKDIR.value or os.path.join("workdirs", run_name(path)))


if __name__ == "__main__":
  app.run(main)
