"""Entry point: `python launch/main.py --config=configs/<name>.py[:arg] [--config.field=value ...] [--workdir=DIR]`.

Runs `lossyless_jax.train.train_and_eval(config, workdir)`; rerunning the same command resumes
(a changed config is refused in one line, except a longer num_steps and evaluation-only fields).
Without --config it runs the project's default experiment; without --workdir the run lives in
`workdirs/<config name>[_<arg>]`. `--list` shows the configs.
"""
import os
import sys

from absl import app, flags
from ml_collections import config_flags

import common
from lossyless_jax import config as config_lib
from lossyless_jax import train

# The default experiment: VIC on the augmented digits, with real bitstreams, probes and the
# PNG/JPEG/WebP baselines (about 6 minutes on 2 idle CPU cores).
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "digits_vic.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, report); default workdirs/<config name>.")
_CONFIG_HELP = "Experiment config file (configs/<name>.py[:arg]); --config.<field>=<value> overrides a field."


def split_config_flag(argv: list[str]) -> tuple[str, list[str]]:
  """(the --config spec, argv without it): the config file is loaded before absl parses the
  overrides, so that a missing file or a bad ``:arg`` is reported as such."""
  spec, rest, i = None, [argv[0]], 1
  while i < len(argv):
    a = argv[i]
    if a.startswith("--config="):
      spec = a.split("=", 1)[1]
    elif a == "--config" and i + 1 < len(argv):
      spec, i = argv[i + 1], i + 1
    else:
      rest.append(a)
    i += 1
  return spec, rest


def main(argv):
  common.quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  train.train_and_eval(flags.FLAGS.config, _WORKDIR.value or os.path.join("workdirs", common.run_name(_SPEC)))


def define_config_flag(argv: list[str]) -> None:
  """Loads the config file (a missing file or a bad ``:arg`` is reported as such), checks that
  every ``--config.<field>`` names one of its fields, and defines the ``--config`` flag."""
  config = common.load_config(_SPEC)
  for a in argv[1:]:
    if a.startswith("--config."):
      config_lib.check_field(config, a[len("--config."):].split("=", 1)[0])
  config_flags.DEFINE_config_dict("config", config, _CONFIG_HELP, sys_argv=argv)


if __name__ == "__main__":
  _SPEC, _ARGV = split_config_flag(sys.argv)
  _SPEC = _SPEC or DEFAULT_CONFIG
  common.run(main, __doc__, _ARGV, prepare=define_config_flag)
