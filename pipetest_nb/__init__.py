"""pipetest_nb: test the step scripts of an ML pipeline, and the data flowing between them, in a notebook.

Importing the package is cheap: each public name loads its module the first time it is used, so
Great Expectations, plotly and ipywidgets are imported only by the code that draws or validates.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "PipetestError": "exceptions",
    "PipelineSpecError": "exceptions",
    "PipelineCycleError": "exceptions",
    "SpecProblem": "exceptions",
    "UnknownStepError": "exceptions",
    "UnknownEdgeError": "exceptions",
    "RunLockedError": "exceptions",
    "RunNotFoundError": "exceptions",
    "ContractError": "exceptions",
    "LaunchError": "exceptions",
    "RecordWriteError": "exceptions",
    "RunRecordError": "exceptions",
    "PipetestWarning": "exceptions",
    "PipelineDAG": "spec.model",
    "StepConfig": "spec.parts",
    "InputSpec": "spec.parts",
    "OutputSpec": "spec.parts",
    "EdgeSpec": "spec.parts",
    "TableSchema": "spec.parts",
    "PipelineDAGResolver": "plan",
    "PipelineExecutionPlan": "plan",
    "RecoveryStrategy": "spec.policy",
    "PipelineExecutor": "engine.executor",
    "PipelineScriptExecutor": "engine.executor",
    "PipelineRun": "engine.run",
    "PipelineExecutionResult": "engine.results",
    "StepResult": "engine.results",
    "Session": "session",
    "PipelineMonitor": "records.monitor",
    "StepMetrics": "records.monitor",
    "PipelineMetrics": "records.monitor",
    "PipelineErrorHandler": "engine.recovery",
    "ErrorContext": "engine.recovery",
    "ErrorSeverity": "engine.recovery",
    "Workspace": "records.workspace",
    "StepStatus": "events",
    "EdgeState": "events",
    "EventKind": "events",
    "Event": "events",
    "EventBus": "events",
    "CursusIntegrationLayer": "cursus.layer",
    "load_cursus_pipeline": "cursus.layer",
    "DataCompatibilityValidator": "validation.compatibility",
    "DataCompatibilityReport": "validation.compatibility",
    "OutputInfo": "validation.artifacts",
    "inspect_output": "validation.artifacts",
    "frame": "validation.artifacts",
    "check_edge": "validation.compatibility",
    "EdgeCheck": "validation.expectations.checks",
    "ExpectationFailure": "validation.expectations.checks",
    "check_output": "validation.expectations.checks",
    "validate_frame": "validation.expectations.checks",
    "suite_from_frame": "validation.expectations.drafting",
    "write_suite": "validation.expectations.drafting",
    "generate_inputs": "validation.synthetic",
    "generate_input": "validation.synthetic",
    "OutputDiff": "validation.diff",
    "diff_outputs": "validation.diff",
    "TableNotFoundError": "exceptions",
    "SyntheticDataError": "exceptions",
    "SuiteError": "exceptions",
    "write_html_report": "views.report.html",
    "report_json": "views.report.data",
    "Debugger": "views.notebook.debugger",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipetest_nb' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pipetest_nb``: register the ``%pipetest`` magics (IPython's magic machinery loads only now)."""
    from pipetest_nb.views.notebook.magics import load_ipython_extension as load

    load(ipython)


def _register_notebook_displays() -> None:
    """In a running IPython, register how our objects display (by class name: nothing heavy loads)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        from pipetest_nb.views.notebook import register_displays

        register_displays(shell)


_register_notebook_displays()
