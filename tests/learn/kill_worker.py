"""Subprocess worker for the SIGKILL-and-resume tests of the commands (not a test module).

usage: python kill_worker.py [--every MODULE K] MODULE FUNCTION N APP ARGS...
Runs ``astrograd APP ARGS...`` in this process after wrapping ``MODULE.FUNCTION`` (e.g.
``os replace``, which completes every atomic checkpoint save) so that the process kills itself
with SIGKILL right after the N-th call returns: no Python clean-up runs (no ``finally``, no file
closed), as when a machine is switched off or a job is killed. N = 0: run to the end unharmed.
``--every MODULE K``: the ``fit`` that MODULE imported from astrograd.inverse saves a checkpoint
every K steps (the commands save every 100), so that a short run has several.
"""

import functools
import importlib
import os
import signal
import sys

argv = sys.argv[1:]
if argv[0] == "--every":
    fit_user = importlib.import_module(argv[1])
    fit_user.fit = functools.partial(fit_user.fit, checkpoint_every=int(argv[2]))
    argv = argv[3:]
module_name, function, kill_after, app_name, args = argv[0], argv[1], int(argv[2]), argv[3], argv[4:]
module = importlib.import_module(module_name)
real = getattr(module, function)
calls = 0


def wrapped(*a, **kw):
    global calls
    result = real(*a, **kw)
    calls += 1
    if calls == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


setattr(module, function, wrapped)
app = importlib.import_module(f"astrograd.{app_name}.cli").app
app(args, prog_name=f"astrograd {app_name}")
