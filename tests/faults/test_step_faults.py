"""Scripts that misbehave in every way we know of: each ends in the right status with a useful message."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from pipetest_nb.events import StepStatus

WRITE = """
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}).to_parquet(Path(output_paths["out"]) / "t.parquet")
"""

READ = """
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    pd.read_parquet(input_paths["IN"])
"""


def chain(producer_script: str, consumer_checks: dict | None = None) -> tuple[dict, dict]:
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}}},
             "consume": {"script": "consume.py",
                         "inputs": {"IN": {"from": "produce.out", **(consumer_checks or {})}}}}
    return steps, {"produce.py": producer_script, "consume.py": READ}


def test_hang_is_killed_at_its_timeout(case):
    c = case({"hang": {"script": "hang.py", "timeout": 1}},
             {"hang.py": "import time\ndef main(*a):\n    time.sleep(600)\n"})
    result, record = c.run_all()
    step = record.steps["hang"]
    assert step["status"] == StepStatus.FAILED and step["error_type"] == "timeout"
    assert "1" in step["error_message"] and "timeout" in step["error_message"].lower()


def test_forked_children_that_hang_die_with_the_step(case, tmp_path):
    pids = tmp_path / "pids"
    script = f"""
import os, time
def main(*a):
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
    with open({str(pids)!r}, "w") as fh:
        fh.write(" ".join(map(str, children)))
    time.sleep(600)
"""
    c = case({"forks": {"script": "forks.py", "timeout": 1.5}}, {"forks.py": script})
    _, record = c.run_all(isolation="pool")
    assert record.steps["forks"]["error_type"] == "timeout"
    deadline = time.time() + 5
    for pid in map(int, pids.read_text().split()):
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.time() < deadline, f"forked child {pid} outlived the step"
            time.sleep(0.05)


def test_memory_hog_is_stopped_by_its_limit(case):
    c = case({"hog": {"script": "hog.py", "memory": "300MB"}},
             {"hog.py": "def main(*a):\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 2**20))\n"})
    _, record = c.run_all()
    step = record.steps["hog"]
    assert step["error_type"] == "out_of_memory" and "memory" in step["error_message"].lower()


def test_segfault(case):
    c = case({"segv": {"script": "segv.py"}}, {"segv.py": "import ctypes\ndef main(*a):\n    ctypes.string_at(0)\n"})
    _, record = c.run_all(isolation="pool")
    assert record.steps["segv"]["error_type"] == "signal" and "SIGSEGV" in record.steps["segv"]["error_message"]


def test_os_exit_zero_without_outputs_fails_the_edge_that_needs_them(case):
    steps, scripts = chain("import os\ndef main(*a):\n    os._exit(0)\n", {"format": "parquet"})
    _, record = case(steps, scripts).run_all()
    produce = record.steps["produce"]
    assert produce["error_type"] == "data_compatibility_error"
    assert "produce.out -> consume.IN" in produce["error_message"] and "empty" in produce["error_message"]
    assert record.steps["consume"]["status"] == StepStatus.PENDING  # paused there


def test_writing_nothing_is_a_warning_when_nobody_checks(case):
    _, record = case({"lazy": {"script": "lazy.py", "outputs": {"out": {}}}},
                     {"lazy.py": "def main(*a):\n    pass\n"}).run_all()
    assert record.steps["lazy"]["status"] == StepStatus.SUCCEEDED
    assert "the step wrote nothing to output 'out'" in record.steps["lazy"]["warnings"]


def test_empty_table_is_a_warning_on_the_edge(case):
    script = WRITE.replace('{"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}', '{"id": [], "x": []}')
    steps, scripts = chain(script, {"format": "parquet", "schema": {"required_columns": ["id"]}})
    _, record = case(steps, scripts).run_all()
    edge = record.edges["produce.out->consume.IN"]
    assert edge["state"] == "warned" and "no rows" in " ".join(edge["compatibility"]["warnings"])
    assert record.steps["consume"]["status"] == StepStatus.SUCCEEDED


def test_corrupt_parquet_is_reported_unreadable(case):
    script = "from pathlib import Path\ndef main(i, o, e, a):\n    (Path(o['out']) / 't.parquet').write_bytes(b'PAR1garbage')\n"
    steps, scripts = chain(script, {"format": "parquet"})
    _, record = case(steps, scripts).run_all()
    produce = record.steps["produce"]
    assert produce["error_type"] == "data_compatibility_error" and "t.parquet" in produce["error_message"]


def test_a_hundred_megabytes_of_logs_are_capped(case):
    script = "import sys\ndef main(*a):\n    chunk = 'y' * (2**20 - 1) + '\\n'\n    for _ in range(100):\n" \
             "        sys.stderr.write(chunk)\n    print('last line', file=sys.stderr)\n"
    c = case({"loud": {"script": "loud.py"}}, {"loud.py": script})
    with c.session(isolation="pool") as session:
        assert session.run_all().success
        log = session.run_dir / "steps" / "loud" / "stderr.log"
        assert log.stat().st_size < 5 * 2**20 and log.read_text().rstrip().endswith("last line")


def test_non_utf8_output_is_kept_readable(case):
    script = "import sys\ndef main(*a):\n    sys.stdout.buffer.write(b'caf\\xe9 \\xff\\xfe ok\\n')\n    sys.stdout.flush()\n"
    c = case({"bytes": {"script": "bytes.py"}}, {"bytes.py": script})
    with c.session() as session:
        seen = []
        session.events.subscribe(lambda e: seen.append(e.data.get("text", "")) if e.kind == "step_output" else None)
        assert session.run_all().success
        assert "ok" in (session.run_dir / "steps" / "bytes" / "stdout.log").read_text(errors="replace")
        assert any("ok" in text for text in seen)


@pytest.mark.parametrize("isolation", ["inprocess", "subprocess"])
def test_changing_the_working_directory_does_not_leak(case, tmp_path, isolation):
    script = f"import os\ndef main(*a):\n    os.chdir({str(tmp_path)!r})\n"
    c = case({"cd": {"script": "cd.py"}, "after": {"script": "cwd.py", "depends_on": ["cd"]}},
             {"cd.py": script, "cwd.py": "import os\ndef main(*a):\n    print(os.getcwd())\n"})
    here = os.getcwd()
    with c.session(isolation=isolation) as session:
        assert session.run_all().success
        assert os.getcwd() == here
        printed = (session.run_dir / "steps" / "after" / "stdout.log").read_text().strip()
        assert printed == str(c.folder)  # steps run in the pipeline's folder


def test_deleting_its_input_is_reported(case):
    script = "import shutil\ndef main(i, o, e, a):\n    shutil.rmtree(i['IN'])\n"
    steps, scripts = chain(WRITE)
    scripts["consume.py"] = script
    _, record = case(steps, scripts).run_all()
    assert "the step deleted its input 'IN'" in record.steps["consume"]["warnings"]


def test_writing_outside_its_output_folder_is_reported(case):
    script = "from pathlib import Path\ndef main(i, o, e, a):\n    (Path(i['IN']) / 't.parquet').write_bytes(b'x')\n" \
             "    (Path(i['IN']) / 'extra.txt').write_text('x')\n"
    steps, scripts = chain(WRITE)
    scripts["consume.py"] = script
    _, record = case(steps, scripts).run_all()
    warnings = " ".join(record.steps["consume"]["warnings"])
    assert "modified files in its input 'IN' (t.parquet)" in warnings
    assert "added files in its input 'IN' (extra.txt)" in warnings
