"""The notebooks in notebooks/ run top to bottom headless, tell their story, and are committed clean.

Each notebook runs once, from a copy in a temporary folder (in a kernel of this project's Python,
started in the copy's folder as Jupyter would); the tests then read its outputs by cell id.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from notebook_runner import NOTEBOOKS, cell_mimetypes, cell_text, errors, run_notebook

ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
STORIES = ("01_quickstart.ipynb", "02_replay_a_failed_run.ipynb", "03_how_data_flows.ipynb")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[nbformat.NotebookNode, Path]]:
    """``executed(name)``: the notebook after a run (once per module), and the temp folder it ran with."""
    done: dict[str, tuple[nbformat.NotebookNode, Path]] = {}

    def get(name: str) -> tuple[nbformat.NotebookNode, Path]:
        if name not in done:
            folder = tmp_path_factory.mktemp(Path(name).stem)
            before = sorted(p.name for p in NOTEBOOKS.iterdir())
            (folder / "notebooks").mkdir()
            nb = run_notebook(Path(shutil.copy(NOTEBOOKS / name, folder / "notebooks")), sys.executable, folder)
            assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the run wrote into the repository"
            done[name] = nb, folder
        return done[name]

    return get


def scratch(nb: nbformat.NotebookNode) -> Path:
    match = re.search(r"scratch folder: (\S+)", cell_text(nb, "setup"))
    assert match, cell_text(nb, "setup")
    return Path(match.group(1))


def widget_models(nb: nbformat.NotebookNode) -> list[dict]:
    """The widget models nbclient saved with the executed notebook (their state at the end of the run)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return list(state.get("state", {}).values())


def test_the_three_stories_are_there():
    assert set(STORIES) <= {p.name for p in ALL}


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_runs_without_errors_in_its_own_scratch_folder(executed, path: Path):
    nb, folder = executed(path.name)
    assert not errors(nb), "\n\n".join(errors(nb))
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), "a cell did not run"
    assert scratch(nb).is_relative_to(folder)


@pytest.mark.slow
def test_quickstart_steps_through_three_steps_then_runs_the_rest(executed):
    nb, _ = executed("01_quickstart.ipynb")
    assert "'load_data'" in cell_text(nb, "plan") and "'model_evaluation'" in cell_text(nb, "plan")
    assert "text/html" in cell_mimetypes(nb, "session")  # the DAG draws itself
    assert "application/vnd.jupyter.widget-view+json" in cell_mimetypes(nb, "debugger")
    for cell, step in (("step-1", "load_data"), ("step-2", "tabular_preprocessing"),
                       ("step-3", "missing_value_imputation")):
        assert f"StepResult('{step}', status='succeeded'" in cell_text(nb, cell)
    raw = cell_text(nb, "raw-frame")
    assert "(4000, 10)" in raw and "'customer_id'" in raw and "'region'" in raw and "'is_churn'" in raw
    assert re.search(r"region\s+0\.0\d", cell_text(nb, "split-frame"))  # missing before imputation
    assert "missing values left in train: 0" in cell_text(nb, "imputed-frame")
    status = cell_text(nb, "status-so-far")
    assert status.count("'succeeded'") == 3 and status.count("'pending'") == 4
    assert "success=True, 7 succeeded" in cell_text(nb, "run-all")
    assert "'auc'" in cell_text(nb, "metrics")
    report = Path(re.search(r"report: (\S+)", cell_text(nb, "report")).group(1))
    assert report.is_file() and report.is_relative_to(scratch(nb))
    assert "critical path: load_data -> " in cell_text(nb, "report-json")


@pytest.mark.slow
def test_quickstart_drives_the_debugger_from_cells(executed):
    nb, _ = executed("01_quickstart.ipynb")
    assert "selected: ('step', 'load_data')" in cell_text(nb, "raw-frame")
    assert "found: model_training" in cell_text(nb, "select-edge")
    assert ("selected: ('edge', ('missing_value_imputation.processed_data', 'risk_table_mapping.input_data'))"
            in cell_text(nb, "select-edge"))
    panels = [str(m["state"].get("value")) for m in widget_models(nb) if m["model_name"] == "HTMLModel"]
    assert any("7 succeeded" in p for p in panels)  # the debugger followed session.step() and run_all()
    assert any("missing_value_imputation.processed_data" in p and "Suite" in p for p in panels)  # Validation tab


@pytest.mark.slow
def test_quickstart_shows_the_report_from_its_file_and_stays_small(executed, tmp_path):
    nb, folder = executed("01_quickstart.ipynb")
    report = Path(re.search(r"report: (\S+)", cell_text(nb, "report")).group(1))
    [cell] = [c for c in nb.cells if c.get("id") == "report-frame"]
    shown = "".join(str(out.get("data", {}).get("text/html", "")) for out in cell.outputs)
    src = re.search(r'<iframe[^>]*src="([^"]+)"', shown).group(1)
    href = re.search(r'<a href=.([^\'"]+)', shown).group(1)
    assert (folder / "notebooks" / src).resolve() == report.resolve() == (folder / "notebooks" / href).resolve()
    assert not Path(src).is_absolute()  # served by Jupyter from the notebook's folder
    assert len(json.dumps(cell.outputs)) < 5_000 and "plotly" not in shown  # the file is shown, not copied in
    saved = tmp_path / "saved.ipynb"
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)  # JupyterLab saves no widget state unless asked to
    nbformat.write(nb, saved)
    assert saved.stat().st_size < 400_000, f"the executed quickstart is {saved.stat().st_size:,} bytes"


@pytest.mark.slow
def test_replay_finds_the_dropped_column_fixes_it_and_reruns(executed):
    nb, _ = executed("02_replay_a_failed_run.ipynb")
    ci = cell_text(nb, "ci-run")
    assert "exit code: 1" in ci and "Root failure: step 'risk_table_mapping'" in ci
    assert "'failed'" in cell_text(nb, "runs")
    assert "'risk_table_mapping': 'failed'" in cell_text(nb, "open")
    assert "application/vnd.jupyter.widget-view+json" in cell_mimetypes(nb, "debugger")
    assert cell_text(nb, "debugger").startswith("Debugger(")
    walk = cell_text(nb, "replay-steps").splitlines()
    assert [line.split()[-2:] for line in walk][-2:] == [["missing_value_imputation", "succeeded"],
                                                         ["risk_table_mapping", "failed"]]
    assert "missing_value_imputation.processed_data -> risk_table_mapping.input_data: warned" in \
        cell_text(nb, "replay-edges")
    assert "KeyError: 'region'" in cell_text(nb, "failed-step")
    assert "expect_column_to_exist(region)" in cell_text(nb, "warned-edge")
    diff = cell_text(nb, "diff")
    assert "- column region" in diff and "table train" in diff
    assert cell_text(nb, "fix").startswith("fixed ") and "demo/broken/missing_value_imputation.py" in cell_text(nb, "fix")
    assert "success=True" in cell_text(nb, "rerun")
    after = cell_text(nb, "after-fix")
    assert "'failed'" not in after and after.count("'succeeded'") == 7 and "no change" in after
    # the debugger followed the session through the re-run: its panel on the selected step says so
    panels = [str(m["state"].get("value")) for m in widget_models(nb) if m["model_name"] == "HTMLModel"]
    assert any("<b>risk_table_mapping</b>" in p and ">succeeded<" in p for p in panels)


@pytest.mark.slow
def test_how_data_flows_maps_contracts_and_catches_bad_data(executed):
    nb, _ = executed("03_how_data_flows.ipynb")
    assert "def main(input_paths, output_paths, environ_vars, job_args)" in cell_text(nb, "script-main")
    contract = cell_text(nb, "contract")
    assert re.search(r"input\s+input_data\s+<- tabular_preprocessing\.processed_data", contract)
    folders = cell_text(nb, "folders")
    assert re.search(r"input  calibration_data\s+-> steps/tabular_preprocessing/outputs/calibration_data", folders)
    assert re.search(r"output calibration_data\s+-> steps/missing_value_imputation/outputs/calibration_data", folders)
    assert "missing_value_imputation:processed_data" in cell_text(nb, "data-flow-map")
    assert "passed (preprocessed_table passed)" in cell_text(nb, "edge-checks")
    good = cell_text(nb, "validate-good")
    assert "PASSED" in good
    bad = cell_text(nb, "bad-data")
    assert "FAILED" in bad and "expect_column_to_exist(region)" in bad and "'platinum'" in bad
    assert cell_text(nb, "bad-columns").strip() == "['age', 'annual_income', 'plan_type', 'region']"


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_committed_notebook_has_no_outputs_and_no_widget_state(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        assert "widgets" not in cell.metadata, cell.get("id")
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.get('id')} has outputs"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"  # what Binder and JupyterLab start
