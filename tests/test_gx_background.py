"""Great Expectations imported in a background thread when a run whose suites need it is created:
each case in a fresh interpreter, so that what is imported, and when, is that process's own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pipelines import write_pipeline

from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.validation.expectations import warmup

WRITER = """\
import pandas as pd
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"day": ["2024-01-02", "2024-01-03"], "n": [1, 2]}).to_parquet(out / "part.parquet")
"""
ON_GX = {"type": "expect_column_values_to_match_strftime_format", "kwargs": {"column": "day", "strftime_format": "%Y-%m-%d"}}
NATIVE = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "n"}}


def _pipeline(folder: Path, expectations: list[dict] | None, defaults: str = "") -> Path:
    path = write_pipeline(folder, f"name: bg\n{defaults}steps:\n  a: {{script: a.py, outputs: {{out: {{}}}}}}\n",
                          {"a.py": WRITER})
    if expectations is not None:
        (folder / "expectations").mkdir()
        (folder / "expectations" / "a.out.json").write_text(json.dumps({"expectations": expectations}))
    return path


def _run(code: str, pipeline: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    prelude = textwrap.dedent("""
        import sys, threading
        PIPELINE = sys.argv[1]
        def importer():
            return [t for t in threading.enumerate() if t.name == "pipetest-gx-import"]
        """)
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), str(pipeline)], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.endswith("ok\n"), done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    return done


def test_a_run_with_a_suite_on_gx_imports_it_in_the_background_and_its_check_uses_it(tmp_path):
    _run("""
        from pipetest_nb import Session
        from pipetest_nb.validation.expectations.gx import GX
        assert "great_expectations" not in sys.modules
        session = Session(PIPELINE, workspace="ws", isolation="inprocess", progress=False)
        [thread] = importer()
        assert sys.modules["pandas"].DataFrame  # imported whole before the thread, which plotly relies on
        thread.join(120)
        assert GX.ready() and GX.background_error is None
        gx = GX.get()
        result = session.run_all()
        assert result.success, result.error
        [check] = session.result("a").edge_checks
        assert check["success"] and check["statistics"]["evaluated_expectations"] == 1, check
        assert GX.get() is gx
        print("ok")
        """, _pipeline(tmp_path, [ON_GX]), tmp_path)


def test_a_check_arriving_during_the_import_waits_for_it_rather_than_importing_again(tmp_path):
    _run("""
        from pipetest_nb.validation.expectations.gx import GX
        from pipetest_nb.validation.expectations.warmup import prepare
        from pipetest_nb.spec.model import PipelineDAG
        thread = prepare(PipelineDAG.load(PIPELINE))
        gx = GX.get()  # while the thread imports: blocks on the thread's set-up, then shares it
        thread.join(120)
        assert not thread.is_alive() and GX.get() is gx and prepare(PipelineDAG.load(PIPELINE)) is None
        print("ok")
        """, _pipeline(tmp_path, [ON_GX]), tmp_path)


@pytest.mark.parametrize("expectations, defaults", [
    (None, ""),  # no suite at all
    ([NATIVE], ""),  # every expectation evaluated natively
    ([ON_GX], "defaults: {checks_engine: native}\n"),  # GX not to be used
])
def test_no_import_when_no_suite_needs_gx(tmp_path, expectations, defaults):
    pipeline = _pipeline(tmp_path, expectations, defaults)
    _run("""
        from pipetest_nb import Session
        session = Session(PIPELINE, workspace="ws", isolation="inprocess", progress=False)
        assert not importer() and "great_expectations" not in sys.modules and "pandas" not in sys.modules
        print("ok")
        """, pipeline, tmp_path)


def test_runs_with_checks_off_never_start_it(tmp_path):
    _run("""
        from pipetest_nb import Session
        Session(PIPELINE, workspace="ws", isolation="inprocess", progress=False, checks=False)
        assert not importer() and "great_expectations" not in sys.modules
        print("ok")
        """, _pipeline(tmp_path, [ON_GX]), tmp_path)


def test_a_failed_background_import_is_raised_where_gx_is_needed_and_is_silent_till_then(tmp_path):
    _run("""
        sys.modules["great_expectations"] = None  # fault injection: GX cannot be imported
        from pipetest_nb.validation.expectations.gx import GX
        from pipetest_nb.validation.expectations.warmup import prepare
        from pipetest_nb.spec.model import PipelineDAG
        prepare(PipelineDAG.load(PIPELINE)).join(60)
        assert isinstance(GX.background_error, ImportError) and not GX.ready()
        try:
            GX.get()
        except ImportError as exc:
            assert exc.__cause__ is GX.background_error, exc.__cause__
        else:
            raise AssertionError("GX.get() did not raise")
        print("ok")
        """, _pipeline(tmp_path, [ON_GX]), tmp_path)


def test_the_main_threads_warning_filters_hold_during_the_import_and_after(tmp_path):
    """The import adds one filter for GX's own modules and takes it out again; it never swaps the
    whole warnings state (``catch_warnings`` + ``simplefilter("ignore")``), which would silence the
    main thread's warnings while the import runs.

    Not covered: the main thread using ``catch_warnings`` itself during the import (an in-process step
    may): that context manager is not thread-safe, and libraries GX imports use it."""
    _run("""
        import warnings
        warnings.simplefilter("error", UserWarning)
        mine = warnings.filters[0]
        showwarning = warnings.showwarning
        from pipetest_nb.validation.expectations.warmup import prepare
        from pipetest_nb.spec.model import PipelineDAG
        thread, checked = prepare(PipelineDAG.load(PIPELINE)), 0
        while thread.is_alive():
            try:
                warnings.warn("mine")
            except UserWarning:
                checked += 1
            else:
                raise AssertionError("the main thread's 'error' filter was not in force during the import")
        assert checked and mine in warnings.filters and warnings.showwarning is showwarning
        assert not [f for f in warnings.filters if "great_expectations" in str(getattr(f[3], "pattern", f[3]))]
        print("ok")
        """, _pipeline(tmp_path, [ON_GX]), tmp_path)


def test_needs_gx_follows_the_engine(tmp_path):
    dag = PipelineDAG.load(_pipeline(tmp_path, [NATIVE]))
    assert not warmup.needs_gx(dag) and warmup.needs_gx(dag, "gx") and not warmup.needs_gx(dag, "native")
