"""Warm workers, started before the steps that need them and recorded as an event of their own.

A pool step forks a worker that has already imported the third-party modules the pipeline's
scripts import at module level (``imports.third_party_imports``, the reading the static contract
check makes) and the file's ``preload:``. The workers are started, as many as the run will use at
once, before the first pool step starts: the ``workers_started`` event (seconds, workers, modules
preloaded, modules that failed) holds what that took, and no step's duration includes it. A module
whose import fails in the workers is named once, in that event and in a warning.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.exceptions import LaunchError, PipetestWarning
from pipetest_nb.imports import third_party_imports

if TYPE_CHECKING:
    from pipetest_nb.engine.context import RunContext
    from pipetest_nb.launch.base import Launcher

_RUNNABLE = (StepStatus.PENDING, StepStatus.INTERRUPTED)
#: run -> isolation override -> the modules its pool steps' scripts import
_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def warm_workers(run: RunContext, steps: Iterable[str], jobs: int, isolation: str | None,
                 pool: Callable[[], Launcher]) -> None:
    """Start the pool workers that those of ``steps`` still to run will use at once (at most ``jobs``),
    with the pipeline's modules, and record it; nothing when they are up already."""
    todo = [s for s in steps if run.isolation_for(s, isolation) == "pool" and run.status_of(s) in _RUNNABLE]
    if not todo:
        return
    launcher = pool()
    warm = getattr(launcher, "warm", None)
    if warm is None:
        return
    try:
        report = warm(pipeline_modules(run, isolation), workers=min(max(jobs, 1), len(todo)))
    except LaunchError:
        return  # the step's own launch meets the same error and records it
    if report is None:
        return
    for name, why in report.failed.items():
        warnings.warn(f"pipetest: the pool workers could not import {name} ({why}); steps that import it "
                      "import it themselves when they run", PipetestWarning, stacklevel=2)
    run.emit(EventKind.WORKERS_STARTED, isolation="pool", **report.to_dict())


def pipeline_modules(run: RunContext, isolation: str | None) -> tuple[str, ...]:
    """The file's ``preload:`` and the third-party modules the scripts of the pipeline's pool steps
    import at module level, in step order, once each."""
    known = _MODULES.setdefault(run, {})
    if isolation not in known:
        found: dict[str, None] = dict.fromkeys(run.dag.preload)
        for step in run.plan.execution_order:
            config = run.plan.step_configs[step]
            if config.external or run.isolation_for(step, isolation) != "pool":
                continue
            with contextlib.suppress(Exception):  # no script: the step reports it when it runs
                found.update(dict.fromkeys(_script_imports(str(config.script))))
        known[isolation] = tuple(found)
    return known[isolation]


def _script_imports(script: str) -> tuple[str, ...]:
    try:
        stat = os.stat(script)
    except OSError:
        return ()
    return _imports_of(script, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _imports_of(script: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    return third_party_imports(script)
