"""TensorFlow's start-up log lines off for the `keras-relevance` command (imports no TensorFlow).

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA stubs, CPU features; absl's "All log
messages before absl::InitializeLog()") to file descriptor 2 while its shared libraries load,
whatever ``TF_CPP_MIN_LOG_LEVEL`` says; later C++ errors (``cuInit``) obey the variable. So the
command sets the variable and loads TensorFlow once with descriptor 2 pointed at /dev/null,
before anything else imports it. Importing this module (the first import of
`keras_relevance/__init__.py`) calls `before_tensorflow()`, which acts only when this process is
the command (``keras-relevance ...`` or ``python -m keras_relevance.cli ...``) without
``--verbose``, so that a library user's logging is untouched.
"""

from __future__ import annotations

import contextlib
import os
import sys

CLI_MODULES = ("keras_relevance.cli",)
CLI_SCRIPTS = ("keras-relevance", "keras-relevance.exe")


def is_cli(argv: list[str] | None = None) -> bool:
    """Whether this process runs the `keras-relevance` command (quiet unless ``--verbose``)."""
    argv = list(getattr(sys, "orig_argv", sys.argv) if argv is None else argv)
    if "--verbose" in argv or "-v" in argv:
        return False
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if script in CLI_SCRIPTS or any(os.path.basename(a) in CLI_SCRIPTS for a in argv[:2]):
        return True
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1] in CLI_MODULES
    return False


@contextlib.contextmanager
def stderr_to_devnull():
    """Point file descriptor 2 at /dev/null (C++ writes included) for the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow() -> None:
    """Set TensorFlow's log level and load it with its start-up lines discarded."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with stderr_to_devnull():
        import tensorflow  # noqa: F401

        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover - absl comes with tensorflow
            pass


def before_tensorflow() -> None:
    """Called first by the package: quiet TensorFlow when this process is the command."""
    if is_cli():
        quiet_tensorflow()


before_tensorflow()
