"""How one step runs: in this process, in a fresh interpreter, in a fork of a warm worker, or on any
``concurrent.futures.Executor``.

``get_launcher("subprocess" | "inprocess" | "pool", **options)`` builds the launcher an ``isolation:``
setting names (``"external"``: a step that does not run); ``FuturesLauncher(executor)`` wraps an executor (a Dask client's ``get_executor()``).
The launchers load on first use, so that a step's own process imports only what it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pipetest_nb.launch.base import (
    DEFAULT_LOG_LIMIT,
    Launcher,
    OutputCallback,
    StartCallback,
    StepJob,
    StepOutcome,
)

#: isolation name -> (module, class)
LAUNCHERS: dict[str, tuple[str, str]] = {
    "subprocess": ("fresh", "SubprocessLauncher"),
    "inprocess": ("inprocess", "InProcessLauncher"),
    "pool": ("pool", "PoolLauncher"),
}
#: launchers the engine picks by the step itself, never an ``isolation:`` setting: an ``external`` step
#: does not run, its outputs are the folders the user provides
STEP_LAUNCHERS: dict[str, tuple[str, str]] = {
    "external": ("external", "ExternalLauncher"),
}

_LAZY = {
    "SubprocessLauncher": "fresh",
    "InProcessLauncher": "inprocess",
    "PoolLauncher": "pool",
    "FuturesLauncher": "futures",
    "ExternalLauncher": "external",
}

__all__ = [
    "DEFAULT_LOG_LIMIT", "LAUNCHERS", "STEP_LAUNCHERS", "ExternalLauncher", "FuturesLauncher", "InProcessLauncher",
    "Launcher", "OutputCallback", "PoolLauncher", "StartCallback", "StepJob", "StepOutcome", "SubprocessLauncher",
    "get_launcher",
]


def get_launcher(isolation: str, **options: Any) -> Launcher:
    """The launcher for an ``isolation:`` value; ``options`` go to its constructor (e.g. ``workers=``,
    ``preload=`` for ``pool``, ``python=`` for ``subprocess`` and ``pool``)."""
    known = {**LAUNCHERS, **STEP_LAUNCHERS}
    if isolation not in known:
        from pipetest_nb.exceptions import LaunchError

        raise LaunchError(f"unknown isolation '{isolation}'; choose one of {', '.join(LAUNCHERS)}")
    module, cls = known[isolation]
    return getattr(import_module(f".{module}", __name__), cls)(**options)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipetest_nb.launch' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
