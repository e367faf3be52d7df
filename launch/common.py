"""Helpers shared by the launch scripts (`main.py`, `sweep.py`, `codec.py`); defines no flags.

`run(main, doc)` is their `app.run`: ``-h``/``--help`` print the script's docstring, its flags and
the configs, and exit 0; ``--list`` prints the configs; bad input (`lossyless_jax.errors.InputError`,
a missing or unreadable file, a flag error) is one line on stderr and exit status 2; any other
error is one line and status 1. ``--verbose`` (or ``LOSSYLESS_VERBOSE=1``) shows the traceback.
"""
import os
import signal
import sys

# TensorFlow (imported by TFDS and clu's TensorBoard writer) prints its oneDNN banner and C++
# start-up logs in every command; set before it is imported (``--verbose`` keeps them).
if "--verbose" not in sys.argv and os.environ.get("LOSSYLESS_VERBOSE", "") in ("", "0"):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # TF's CPU kernels only; JAX computes everything here

from absl import app, flags, logging  # noqa: E402

from lossyless_jax import config as config_lib  # noqa: E402
from lossyless_jax import errors  # noqa: E402

HELP = ("-h", "-help", "--help", "--helpshort", "-?")
VERBOSE_ENV = "LOSSYLESS_VERBOSE"


def run_name(path: str) -> str:
  """`configs/<name>.py[:arg]` -> `<name>[_<arg>]` (a run's default workdir name)."""
  arg = path.split(":", 1)[1] if ":" in path else ""
  return os.path.splitext(os.path.basename(path.split(":")[0]))[0] + (f"_{arg}" if arg else "")


def quiet_libraries() -> None:
  """WARNING verbosity unless --verbosity is given: libraries (Orbax) log every save at INFO."""
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


def config_listing() -> str:
  rows = config_lib.catalog()
  width = max((len(n) for n, _ in rows), default=0)
  return "configs (--config=configs/<name>.py[:arg]):\n" + "\n".join(f"  {n:<{width}}  {s}" for n, s in rows)


def fail(message, status: int = 2):
  """Prints ``<script>: error: <message>`` as one line on stderr and exits with ``status``."""
  print(f"{os.path.basename(sys.argv[0])}: error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
  sys.exit(status)


def load_config(spec: str):
  """`config_lib.load(spec)` for a command line: any error while running the config file is bad
  input naming the file."""
  try:
    return config_lib.load(spec)
  except errors.InputError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (the config file's own code failed)
    raise config_lib.ConfigError(f"{spec}: {type(e).__name__}: {e}") from e


def verbose(argv) -> bool:
  return "--verbose" in argv or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def import_tensorflow_quietly() -> None:
  """Imports TensorFlow (used by TFDS and by clu's TensorBoard writer) with stderr closed: at import
  it logs C++ INFO lines whatever TF_CPP_MIN_LOG_LEVEL says. A failing import is left for the code
  that needs TensorFlow to report."""
  import importlib.util
  if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
    return
  sys.stderr.flush()
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except Exception:  # pylint: disable=broad-except
    pass
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def _guarded(fn, show_traceback: bool, *args):
  """``fn(*args)``, with every error as one line (see the module docstring)."""
  try:
    return fn(*args)
  except KeyboardInterrupt:
    fail("interrupted", 130)
  except (errors.InputError, OSError, app.UsageError, flags.Error) as e:
    if show_traceback:
      raise
    fail(e)
  except Exception as e:  # pylint: disable=broad-except  (one line; --verbose for the traceback)
    if show_traceback:
      raise
    fail(f"{type(e).__name__}: {e} (rerun with --verbose for the traceback)", 1)


def run(main, doc: str, argv=None, list_configs: bool = True, prepare=None) -> None:
  """Runs ``main(argv)`` under absl as the module docstring says; ``prepare(argv)`` (e.g. loading
  the config and defining its override flags) runs first, under the same error handling."""
  argv = list(sys.argv if argv is None else argv)
  show_traceback = verbose(argv)
  argv = [a for a in argv if a != "--verbose"]
  if any(a in HELP or a == "--list" for a in argv[1:]):  # `--list | head` ends quietly (only
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # here: libraries rely on Python ignoring SIGPIPE)
  if any(a in HELP for a in argv[1:]):
    own = flags.FLAGS.get_key_flags_for_module(sys.argv[0]) or flags.FLAGS.get_key_flags_for_module("__main__")
    lines = [f"  --{f.name}: {f.help}" + (f" (default {f.default!r})" if f.default not in (None, "") else "")
             for f in own if not f.name.startswith("config.")]
    print(doc.strip() + "\n\nflags:\n" + "\n".join(lines + ["  --verbose: show tracebacks"]))
    if list_configs:
      print("\n" + config_listing())
    sys.exit(0)
  if list_configs and "--list" in argv[1:]:
    print(config_listing())
    sys.exit(0)
  if prepare is not None:
    _guarded(prepare, show_traceback, argv)

  def parse(args):
    return _guarded(flags.FLAGS, show_traceback, args)

  def guarded_main(args):
    if not show_traceback:
      import_tensorflow_quietly()
    _guarded(main, show_traceback, args)

  app.run(guarded_main, argv=argv, flags_parser=parse)
