"""Great Expectations imported while a run's first steps run, when its suites will need it.

Importing GX takes about 3 s; an edge check that imports it on the spot holds up its consumer that
long. When a run with checks on is created, ``prepare`` starts the import in a background thread,
if a suite applies to the pipeline and one of its expectations is routed to GX by the
``checks_engine`` (``auto``: an expectation the native evaluator does not take; ``gx``: every one;
``native``: none). What only the data decides (a dtype the native evaluator leaves to GX) is not
known yet: such a check imports GX when it meets it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pipetest_nb.validation.expectations.gx import GX

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG


def prepare(dag: PipelineDAG, engine: str | None = None) -> threading.Thread | None:
    """Start importing GX in the background if some suite of ``dag`` will need it; the thread, or
    None when none was started (no suite needs GX, GX is set up or being set up)."""
    from pipetest_nb.validation.expectations.suites import has_suites

    if GX.ready() or not has_suites(dag):
        return None
    try:
        needed = needs_gx(dag, engine)  # a few small files read and planned: milliseconds
    except Exception:  # a suite that cannot be read: its edge check says why, and may need GX
        needed = True
    if not needed:
        return None
    import pandas  # noqa: F401 - here, not half-imported in the thread: plotly probes sys.modules for it
    return GX.import_in_background()


def needs_gx(dag: PipelineDAG, engine: str | None = None) -> bool:
    """Whether some expectation of the suites applying to ``dag``'s outputs is routed to GX before any
    data is seen; ``engine`` overrides the pipeline's ``defaults.checks_engine``."""
    from pipetest_nb.validation.expectations.checks import plan_suite
    from pipetest_nb.validation.expectations.suites import load_suite, suites_for_output

    engine = engine or getattr(dag.defaults, "checks_engine", None) or "auto"
    if engine == "native":
        return False
    files = {use.file for step, config in dag.steps.items() for output in config.outputs
             for use in suites_for_output(dag, step, output)}
    return any(p.evaluate is None and p.problem is None
               for path in sorted(files) for p in plan_suite(load_suite(path), engine))
