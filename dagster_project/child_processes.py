"""Child processes that die with the process that started them (Linux).

A run killed with kill -9 must not leave a child working on: publish workers would suppress
for minutes, and a `dbt build` would go on holding the warehouse's only write lock (the next
run waited 60 s for it, then failed; issue 23). Elsewhere than Linux children finish.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when ``parent`` (its parent) exits."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def dbt_main() -> None:
    """``cte-dbt``: the environment's dbt, sent SIGTERM when the run that started it dies.

    dagster-dbt starts dbt with a bare Popen; the resource names this as its executable
    (resources.py). The death signal survives the exec."""
    die_with(os.getppid(), signal.SIGTERM)
    dbt = Path(sys.executable).with_name("dbt")
    os.execv(dbt, [str(dbt), *sys.argv[1:]])
