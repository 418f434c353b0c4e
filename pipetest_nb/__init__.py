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
    "PipelineDAG": "dag",
    "StepConfig": "dag",
    "InputSpec": "dag",
    "OutputSpec": "dag",
    "EdgeSpec": "dag",
    "TableSchema": "dag",
    "PipelineDAGResolver": "resolver",
    "PipelineExecutionPlan": "resolver",
    "RecoveryStrategy": "policy",
    "PipelineExecutor": "executor",
    "PipelineScriptExecutor": "executor",
    "PipelineRun": "executor",
    "PipelineExecutionResult": "results",
    "StepResult": "results",
    "Session": "session",
    "PipelineMonitor": "monitor",
    "StepMetrics": "monitor",
    "PipelineMetrics": "monitor",
    "PipelineErrorHandler": "errors",
    "ErrorContext": "errors",
    "ErrorSeverity": "errors",
    "Workspace": "workspace",
    "StepStatus": "events",
    "EdgeState": "events",
    "CursusIntegrationLayer": "cursus",
    "load_cursus_pipeline": "cursus",
    "DataCompatibilityValidator": "dataflow",
    "DataCompatibilityReport": "dataflow",
    "OutputInfo": "dataflow",
    "inspect_output": "dataflow",
    "frame": "dataflow",
    "check_edge": "dataflow",
    "EdgeCheck": "expectations",
    "ExpectationFailure": "expectations",
    "check_output": "expectations",
    "validate_frame": "expectations",
    "suite_from_frame": "expectations",
    "write_suite": "expectations",
    "generate_inputs": "synthetic",
    "generate_input": "synthetic",
    "OutputDiff": "diff",
    "diff_outputs": "diff",
    "TableNotFoundError": "exceptions",
    "SyntheticDataError": "exceptions",
    "SuiteError": "exceptions",
    "write_html_report": "report",
    "report_json": "report",
    "Debugger": "notebook.debugger",
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
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def _register_notebook_displays() -> None:
    """In a running IPython, register how our objects display (by class name: nothing heavy loads)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        from .notebook import register_displays

        register_displays(shell)


_register_notebook_displays()
