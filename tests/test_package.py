"""The package surface: public names, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_import():
    from pipetest_nb import (  # noqa: F401
        PipelineDAG,
        PipelineDAGResolver,
        PipelineExecutionPlan,
        PipetestError,
        StepConfig,
    )


def test_every_exported_name_resolves():
    import pipetest_nb

    for name in pipetest_nb.__all__:
        assert getattr(pipetest_nb, name) is not None, name


def test_import_is_light():
    code = ("import sys, pipetest_nb; from pipetest_nb import PipelineDAG, PipelineDAGResolver; "
            "assert 'Debugger' in pipetest_nb.__all__; assert callable(pipetest_nb.load_ipython_extension); "
            "print(','.join(m for m in ('great_expectations', 'plotly', 'ipywidgets', 'IPython', 'pandas') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _public_classes(module) -> set[str]:
    """Classes a base module defines (not imports), without a leading underscore."""
    import inspect

    return {name for name, value in vars(module).items()
            if inspect.isclass(value) and value.__module__ == module.__name__ and not name.startswith("_")}


def test_every_exception_and_event_class_is_exported():
    """A new exception, warning or event class fails here until ``pipetest_nb`` exports it."""
    import pipetest_nb
    import pipetest_nb.events
    import pipetest_nb.exceptions

    for module in (pipetest_nb.exceptions, pipetest_nb.events):
        missing = _public_classes(module) - set(pipetest_nb.__all__)
        assert not missing, f"{module.__name__} defines {sorted(missing)}: add them to pipetest_nb._EXPORTS"
        for name in _public_classes(module):
            assert getattr(pipetest_nb, name) is getattr(module, name), name
    assert {"PipetestError", "PipetestWarning", "Event", "EventBus", "EventKind", "StepStatus",
            "EdgeState"} <= set(pipetest_nb.__all__)


def test_the_original_plans_names_and_the_report_are_exported():
    import pipetest_nb

    plan = {"PipelineDAG", "PipelineDAGResolver", "PipelineExecutionPlan", "PipelineExecutor",
            "PipelineExecutionResult", "DataCompatibilityValidator", "DataCompatibilityReport",
            "PipelineErrorHandler", "ErrorContext", "ErrorSeverity", "RecoveryStrategy", "CursusIntegrationLayer",
            "PipelineMonitor", "StepMetrics", "PipelineMetrics", "PipelineScriptExecutor", "write_html_report"}
    assert plan <= set(pipetest_nb.__all__), sorted(plan - set(pipetest_nb.__all__))


def test_import_loads_the_package_alone_and_a_name_loads_its_own_layers():
    """``import pipetest_nb`` loads none of its modules; the spec and the plan load no engine, view or data library."""
    code = ("import sys; before = set(sys.modules); import pipetest_nb; "
            "first = sorted(m for m in set(sys.modules) - before if m.startswith('pipetest_nb')); "
            "from pipetest_nb import PipelineDAG, PipelineDAGResolver; "
            "new = set(sys.modules) - before; "
            "print(','.join(first)); print(','.join(sorted({m.split('.')[1] for m in new if m.count('.') >= 1 "
            "and m.startswith('pipetest_nb.')}))); "
            "print(','.join(sorted({m.split('.')[0] for m in new} & {'pandas', 'numpy', 'pyarrow', 'jinja2', "
            "'great_expectations', 'plotly', 'ipywidgets', 'IPython'})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, layers, heavy = done.stdout.splitlines()
    assert first == "pipetest_nb"
    assert not set(layers.split(",")) & {"engine", "launch", "records", "validation", "views", "session", "cursus"}
    assert heavy == ""
