"""Reset and the step result display, headless: what a user sees after editing the pipeline file or a failed check."""

from __future__ import annotations

import json
import re

from pipelines import NOOP_SCRIPT, write_pipeline

from pipetest_nb import Debugger, Session
from pipetest_nb.views.notebook.display import step_result_html

TWO_STEPS = "name: edited\ndefaults: {isolation: inprocess}\nsteps:\n  a: {script: a.py}\n  b: {script: a.py, depends_on: [a]}\n"
ROWS = """\
import os
import pandas as pd
def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"age": [20, 30, 200]}).to_parquet(os.path.join(output_paths["rows"], "t.parquet"))
"""


def test_reset_reads_the_edited_pipeline_file_and_redraws_the_graph(tmp_path):
    path = write_pipeline(tmp_path / "p", TWO_STEPS, {"a.py": NOOP_SCRIPT})
    dbg = Debugger(path, workspace=tmp_path / "ws")
    try:
        dbg.step()
        assert dbg.wait(60)
        path.write_text(TWO_STEPS + "  c: {script: a.py, depends_on: [b]}\n")
        old_run = dbg.session.run_id
        dbg.reset()
        assert dbg.wait(60)
        assert dbg.session.run_id != old_run
        assert dbg.session.plan.execution_order == ["a", "b", "c"]
        assert set(dbg.graph.model.steps) == {"a", "b", "c"}
        assert dbg.session.status == {"a": "pending", "b": "pending", "c": "pending"}
    finally:
        dbg.close()


def test_session_reset_keeps_the_run_when_the_edited_file_no_longer_reads(tmp_path):
    path = write_pipeline(tmp_path / "p", TWO_STEPS, {"a.py": NOOP_SCRIPT})
    with Session(path, workspace=tmp_path / "ws", progress=False) as session:
        run_id = session.run_id
        path.write_text("steps:\n  a: {script: gone.py}\n")
        try:
            session.reset()
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert "gone.py" in str(exc)
        assert session.run_id == run_id and list(session.status) == ["a", "b"]


def test_a_step_that_failed_its_expectations_is_not_shown_passed(tmp_path):
    suite = {"name": "rows", "expectations": [{"type": "expect_column_values_to_be_between",
                                               "kwargs": {"column": "age", "min_value": 0, "max_value": 120}}]}
    path = write_pipeline(tmp_path / "p", "name: shown\ndefaults: {isolation: inprocess}\nsteps:\n"
                          "  make: {script: make.py, outputs: {rows: {format: parquet}}}\n"
                          "  use: {script: use.py, inputs: {DATA: make.rows}}\n"
                          "edges:\n  - {from: make.rows, to: use.DATA, expectations: rows}\n",
                          {"make.py": ROWS, "use.py": NOOP_SCRIPT, "expectations/rows.json": json.dumps(suite)})
    with Session(path, workspace=tmp_path / "ws", progress=False) as session:
        result = session.step()
        assert result.status == "failed" and result.error_type == "expectation_failed"
        assert [c["state"] for c in result.edge_checks] == ["failed"]
        html = step_result_html(result)
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "state passed" not in text  # the compatibility check's own verdict never reads as the step's state
    assert "a.out" not in text and "make.rows -&gt; use.DATA rows failed 0/1" in text
    assert re.search(r"peak memory [\d.]+ MiB", text)  # one unit: MiB, not raw bytes


def test_nan_infinities_none_and_nat_are_shown_apart_from_text_that_looks_like_them():
    import pandas as pd

    from pipetest_nb.views.notebook.display import result_html

    html = result_html({"values": [None, float("nan"), pd.NaT, float("inf"), float("-inf"), "None", "nan", "NaT"]},
                       "values")
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&#x27;", "'")
    assert "None , nan, NaT, inf, -inf, 'None', 'nan', 'NaT'" in text


def test_the_data_tab_shows_null_nan_infinities_and_lookalike_text_apart(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipetest_nb.views.notebook.pages import read_page
    from pipetest_nb.views.notebook.panels import data_html

    pq.write_table(pa.table({"s": pa.array(["a", None, "None", "nan"]),
                             "x": pa.array([1.0, None, float("nan"), float("-inf")])}), tmp_path / "t.parquet")
    html = data_html(read_page(tmp_path, "t.parquet"), "the output")
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", html.split("pipetest-rows", 1)[1])[:4]
    assert rows == [("a", "1.0"), ("None", "None"), ("'None'", "nan"), ("'nan'", "-inf")]
