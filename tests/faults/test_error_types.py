"""Every error type is produced by a real failure, with a message that says what to do; and the policies."""

from __future__ import annotations

import threading
import time

from pipetest_nb.engine.executor import PipelineExecutor
from pipetest_nb.events import StepStatus

OK = "from pathlib import Path\ndef main(i, o, e, a):\n    (Path(o['out']) / 'x.txt').write_text('x')\n"


def test_import_error_names_the_module_and_the_package(case):
    c = case({"imp": {"script": "imp.py"}}, {"imp.py": "import sklearnn_typo\ndef main(*a):\n    pass\n"})
    _, record = c.run_all()
    step = record.steps["imp"]
    assert step["error_type"] == "import_error"
    assert "sklearnn_typo" in step["error_message"] and "pip install" in step["error_message"]


def test_script_not_found(case):
    c = case({"gone": {"script": "gone.py"}}, {"gone.py": "def main(*a):\n    pass\n"})
    (c.folder / "gone.py").unlink()  # deleted after the pipeline was loaded
    _, record = c.run_all()
    step = record.steps["gone"]
    assert step["error_type"] == "script_not_found" and "gone.py" in step["error_message"]


def test_contract_error_for_a_missing_input_file(case):
    c = case({"reader": {"script": "r.py", "inputs": {"RAW": "data/missing.csv"}}},
             {"r.py": "def main(*a):\n    pass\n"})
    _, record = c.run_all()
    step = record.steps["reader"]
    assert step["error_type"] == "contract_error"
    assert "input 'RAW'" in step["error_message"] and "missing.csv does not exist" in step["error_message"]


def test_exit_code_and_execution_error(case):
    c = case({"exit": {"script": "exit.py"}, "raise": {"script": "raise.py"}},
             {"exit.py": "import sys\ndef main(*a):\n    print('disk quota', file=sys.stderr)\n    sys.exit(2)\n",
              "raise.py": "def main(i, o, e, a):\n    return e['LABEL_FIELD']\n"})
    with c.session() as session:
        exit_result = session.run_step("exit")
        raise_result = session.run_step("raise")
    assert exit_result.error_type == "exit_code" and "disk quota" in exit_result.error_message
    assert raise_result.error_type == "execution_error"
    assert "KeyError" in raise_result.error_message and "LABEL_FIELD" in raise_result.error_message
    assert "raise.py" in raise_result.traceback


def test_interrupted_by_the_user(case):
    c = case({"slow": {"script": "slow.py"}}, {"slow.py": "import time\ndef main(*a):\n    time.sleep(600)\n"})
    with c.session() as session:
        threading.Timer(1.0, session.stop).start()
        started = time.time()
        session.run_all()
        assert time.time() - started < 30
        step = session.result("slow")
        assert step.status == StepStatus.INTERRUPTED and step.error_type == "interrupted"


FLAKY = """
from pathlib import Path
def main(i, o, e, a):
    counter = Path(e["COUNTER"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    if n < int(e["FAILS"]):
        raise RuntimeError(f"attempt {n + 1} failed")
    (Path(o["out"]) / "x.txt").write_text("ok")
"""


def test_retry_runs_again_with_backoff_until_it_passes(case, tmp_path):
    c = case({"flaky": {"script": "flaky.py", "outputs": {"out": {}}, "on_error": "retry", "retries": 3,
                        "env": {"COUNTER": str(tmp_path / "n"), "FAILS": "2"}}}, {"flaky.py": FLAKY})
    result, record = c.run_all(retry_backoff=0.05)
    assert result.success and record.steps["flaky"]["attempts"] == 3


def test_retry_gives_up_after_its_retries(case, tmp_path):
    c = case({"flaky": {"script": "flaky.py", "outputs": {"out": {}}, "on_error": {"execution_error": "retry"},
                        "retries": 1, "env": {"COUNTER": str(tmp_path / "n"), "FAILS": "5"}}}, {"flaky.py": FLAKY})
    result, record = c.run_all(retry_backoff=0.05)
    assert not result.success and record.steps["flaky"]["attempts"] == 2
    assert "attempt 2 failed" in record.steps["flaky"]["error_message"]


def test_retry_with_defaults_uses_the_steps_defaults(case):
    script = "from pathlib import Path\ndef main(i, o, e, a):\n    if e['MODE'] != 'safe':\n" \
             "        raise ValueError('unsupported mode ' + e['MODE'])\n    (Path(o['out']) / 'x').write_text(a.level)\n"
    c = case({"s": {"script": "s.py", "outputs": {"out": {}}, "env": {"MODE": "fast"}, "args": {"level": "9"},
                    "on_error": "retry_with_defaults", "defaults": {"env": {"MODE": "safe"}, "args": {"level": "1"}}}},
             {"s.py": script})
    result, record = c.run_all()
    assert result.success and record.steps["s"]["attempts"] == 2
    assert (result.steps["s"].outputs["out"] / "x").read_text() == "1"


def test_skip_step_blocks_what_needs_it_and_runs_the_rest(case):
    c = case({"bad": {"script": "bad.py", "outputs": {"out": {}}, "on_error": "skip_step"},
              "needs_bad": {"script": "ok.py", "inputs": {"IN": "bad.out"}, "outputs": {"out": {}}},
              "other": {"script": "ok.py", "outputs": {"out": {}}}},
             {"bad.py": "def main(*a):\n    raise RuntimeError('no')\n", "ok.py": OK})
    result, record = c.run_all()
    assert {n: s["status"] for n, s in record.steps.items()} == {
        "bad": "skipped", "needs_bad": "blocked", "other": "succeeded"}
    assert record.steps["needs_bad"]["blocked_by"] == "bad"


def test_use_cached_output_falls_back_on_the_last_good_run(case, tmp_path):
    toggle = tmp_path / "broken"
    script = f"from pathlib import Path\ndef main(i, o, e, a):\n    if Path({str(toggle)!r}).exists():\n" \
             "        raise RuntimeError('source down')\n    (Path(o['out']) / 'x.txt').write_text('good')\n"
    c = case({"fetch": {"script": "fetch.py", "outputs": {"out": {}}, "on_error": "use_cached_output"},
              "use": {"script": "ok.py", "inputs": {"IN": "fetch.out"}, "outputs": {"out": {}}}},
             {"fetch.py": script, "ok.py": OK})
    executor = PipelineExecutor(tmp_path / "ws", cache=False)  # outputs are kept for the fallback all the same
    assert executor.execute_pipeline(c.dag, data_source="files").success
    toggle.write_text("")
    result = executor.execute_pipeline(c.dag, data_source="files")
    fetch = result.steps["fetch"]
    assert result.success and fetch.status == StepStatus.CACHED and fetch.error_type == "execution_error"
    assert any("using the cached outputs" in w for w in fetch.warnings)
    assert (fetch.outputs["out"] / "x.txt").read_text() == "good"


def test_root_failure_comes_first_and_look_alikes_are_not_repeated(case):
    c = case({"a": {"script": "bad.py", "outputs": {"out": {}}},
              "b": {"script": "ok.py", "inputs": {"IN": "a.out"}, "outputs": {"out": {}}},
              "c": {"script": "ok.py", "inputs": {"IN": "b.out"}}},
             {"bad.py": "def main(*a):\n    raise RuntimeError('root cause')\n", "ok.py": OK})
    result = PipelineExecutor(c.root / "ws2").execute_pipeline(c.dag, data_source="files")
    assert result.root_failure["step"] == "a" and "root cause" in result.root_failure["error_message"]
    assert result.not_run == ["b", "c"]
    assert [s.status for s in result.steps.values()] == ["failed", "blocked", "blocked"]
    assert all(result.steps[s].error_type is None for s in ("b", "c"))


def test_a_policy_can_name_a_failed_check(case):
    script = ("from pathlib import Path\nimport pandas as pd\ndef main(i, o, e, a):\n"
              "    pd.DataFrame({'x': [1]}).to_parquet(Path(o['out']) / 't.parquet')\n")
    c = case({"produce": {"script": "p.py", "outputs": {"out": {}},
                          "on_error": {"data_compatibility_error": "skip_step"}},
              "consume": {"script": "p.py", "inputs": {"IN": {"from": "produce.out",
                                                              "schema": {"required_columns": ["y"]}}},
                          "outputs": {"out": {}}}},
             {"p.py": script})
    _, record = c.run_all()
    assert record.steps["produce"]["status"] == StepStatus.SKIPPED
    assert record.steps["produce"]["error_type"] == "data_compatibility_error"
    assert record.steps["consume"]["status"] == StepStatus.BLOCKED
