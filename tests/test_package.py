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
