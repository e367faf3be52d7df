"""Entry point: `python launch/main.py --config=configs/<name>.py[:arg] [--config.field=value ...] [--workdir=DIR]`.

Runs `lossyless_jax.train.train_and_eval(config, workdir)`; rerunning the same command resumes.
Without --config it runs the project's default experiment; without --workdir the run lives in
`workdirs/<config name>[_<arg>]`.
"""
import os

from absl import app, flags, logging
from ml_collections import config_flags

from lossyless_jax import train

# The default experiment: NERD on the 20-dim rotated Gaussian, checked against its closed-form R(D).
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "nerd_gaussian.py")
_CONFIG = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, "Experiment config file (configs/<name>.py[:arg]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, report); default workdirs/<config name>.")


def main(argv):
  if not flags.FLAGS["verbosity"].present:  # libraries (Orbax) log every save at INFO
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  path = flags.FLAGS["config"].config_filename
  arg = path.split(":", 1)[1] if ":" in path else ""
  name = os.path.splitext(os.path.basename(path.split(":")[0]))[0] + (f"_{arg}" if arg else "")
  train.train_and_eval(_CONFIG.value, _WORKDIR.value or os.path.join("workdirs", name))


if __name__ == "__main__":
  app.run(main)
