"""Helpers shared by the launch scripts (`main.py`, `sweep.py`); defines no flags."""
import os

from absl import flags, logging


def run_name(path: str) -> str:
  """`configs/<name>.py[:arg]` -> `<name>[_<arg>]` (a run's default workdir name)."""
  arg = path.split(":", 1)[1] if ":" in path else ""
  return os.path.splitext(os.path.basename(path.split(":")[0]))[0] + (f"_{arg}" if arg else "")


def quiet_libraries() -> None:
  """WARNING verbosity unless --verbosity is given: libraries (Orbax) log every save at INFO."""
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
