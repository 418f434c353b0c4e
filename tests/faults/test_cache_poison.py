"""A cache nobody can poison, outputs that cannot hang a run, file names that are not UTF-8.

Cache entries are copies verified on restore; a step that writes outside its own outputs is named
in a warning; links in outputs are recorded, never followed out of the run; special files fail
the step; names with undecodable bytes go through inspection, the record and the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipetest_nb.events import StepStatus
from pipetest_nb.records.record import load_record

ORIGINAL = b"a,b\n1,2\n"

PRODUCE = f"""
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    (Path(output_paths["out"]) / "t.csv").write_bytes({ORIGINAL!r})
"""

EDIT_INPUT_IN_PLACE = """
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    with open(Path(input_paths["IN"]) / "t.csv", "r+b") as fh:  # same inode: a hard link would share it
        fh.seek(0)
        fh.write(b"X,Y\\n6,6\\n")
    (Path(output_paths["out"]) / "done.txt").write_text("ok")
"""


def _chain(consumer: str) -> tuple[dict, dict]:
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}}},
             "consume": {"script": "consume.py", "inputs": {"IN": {"from": "produce.out"}}, "outputs": {"out": {}}}}
    return steps, {"produce.py": PRODUCE, "consume.py": consumer}


def _run(c, **options):
    options.setdefault("cache", True)
    with c.session(**options) as session:
        session.run_all()
        run_dir = session.run_dir
    return run_dir, load_record(run_dir)


def _cache_files(ws: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(ws / "cache") for f in files]


def test_a_consumer_editing_its_input_in_place_does_not_poison_the_cache(case):
    c = case(*_chain(EDIT_INPUT_IN_PLACE))
    first_dir, first = _run(c)
    assert first.steps["consume"]["status"] == StepStatus.SUCCEEDED
    entry = c.root / "ws" / "cache" / first.steps["produce"]["cache_key"] / "outputs" / "out" / "t.csv"
    assert entry.read_bytes() == ORIGINAL  # the entry is a copy, not the inode the consumer wrote to
    assert not os.stat(entry).st_mode & 0o222  # and read-only

    second_dir, second = _run(c)
    assert second.steps["produce"]["status"] == StepStatus.CACHED
    restored = second_dir / "steps" / "produce" / "outputs" / "out" / "t.csv"
    assert restored.read_bytes() == ORIGINAL  # never the tampered bytes
    assert os.stat(restored).st_ino != os.stat(entry).st_ino  # writes into the restored folder stay there
    warnings = " ".join(first.steps["consume"]["warnings"])  # the consumer was told what it did, and where
    assert "modified files in its input 'IN' (t.csv)" in warnings
    assert str(first_dir / "steps" / "produce" / "outputs" / "out") in warnings


def test_a_tampered_cache_entry_is_dropped_with_a_warning_and_the_step_runs(case):
    c = case(*_chain("def main(*a):\n    pass\n"))
    _, first = _run(c)
    key = first.steps["produce"]["cache_key"]
    entry = c.root / "ws" / "cache" / key / "outputs" / "out" / "t.csv"
    os.chmod(entry, 0o644)
    entry.write_bytes(b"a,b\n9,9\n")  # same size, other bytes
    second_dir, second = _run(c)
    step = second.steps["produce"]
    assert step["status"] == StepStatus.SUCCEEDED  # ran again, not restored
    warning = " ".join(step["warnings"])
    assert f"cache entry {key} of step 'produce'" in warning and "out/t.csv changed content" in warning
    assert (second_dir / "steps" / "produce" / "outputs" / "out" / "t.csv").read_bytes() == ORIGINAL
    assert (c.root / "ws" / "cache" / key / "outputs" / "out" / "t.csv").read_bytes() == ORIGINAL  # stored anew


ROGUE = """
import glob, os
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    run_dir = Path(output_paths["out"]).parents[3]
    ws = run_dir.parent.parent
    (run_dir / "steps" / "produce" / "outputs" / "extra" / "planted.txt").write_text("x")
    for entry in glob.glob(str(ws / "cache" / "*" / "outputs" / "out" / "t.csv")):
        os.chmod(entry, 0o644)
        with open(entry, "ab") as fh:
            fh.write(b"3,4\\n")
    with open(run_dir / "run.json", "a") as fh:
        fh.write(" ")
    (run_dir.parent / "beside.txt").write_text("x")
"""


def test_writes_outside_its_own_outputs_are_named_with_the_step_and_the_paths(case):
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}, "extra": {}}},
             "rogue": {"script": "rogue.py", "inputs": {"IN": {"from": "produce.out"}}, "outputs": {"out": {}}}}
    produce = PRODUCE + "    (Path(output_paths['extra']) / 'e.txt').write_text('e')\n"
    c = case(steps, {"produce.py": produce, "rogue.py": ROGUE})
    run_dir, record = _run(c)
    assert record.steps["produce"].get("warnings") is None  # a well-behaved step gets no such warning
    warning = next(w for w in record.steps["rogue"]["warnings"] if "outside its own outputs" in w)
    assert warning.startswith("step 'rogue' wrote outside its own outputs")
    assert f"added {run_dir}/steps/produce/outputs/extra/planted.txt" in warning
    assert f"modified {run_dir}/run.json" in warning
    assert f"added {run_dir.parent}/beside.txt" in warning
    key = record.steps["produce"]["cache_key"]
    assert f"modified {c.root / 'ws' / 'cache' / key / 'outputs' / 'out' / 't.csv'}" in warning
    # and the tampered entry is not restored in the next run
    _, again = _run(c)
    assert again.steps["produce"]["status"] == StepStatus.SUCCEEDED
    assert "changed size" in " ".join(again.steps["produce"]["warnings"])


# -- links and special files in outputs: run in a subprocess with a deadline, so a hang fails the test --

RUNNER = """
import sys
from pipetest_nb import PipelineDAG, Session
with Session(PipelineDAG.from_yaml(sys.argv[1]), sys.argv[2], progress=False, cache=True) as session:
    session.run_all()
    print(session.run_dir)
"""

LINKER = """
import os
def main(input_paths, output_paths, environ_vars, job_args):
    open(os.path.join(output_paths["out"], "ok.csv"), "w").write("a\\n1\\n")
    os.symlink({target!r}, os.path.join(output_paths["out"], "link.csv"))
"""


def _run_linker(case, target: str, deadline: float = 30):
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}}},
             "consume": {"script": "consume.py", "inputs": {"IN": {"from": "produce.out", "format": "csv"}}}}
    c = case(steps, {"produce.py": LINKER.format(target=target), "consume.py": "def main(*a):\n    pass\n"})
    done = subprocess.run([sys.executable, "-c", RUNNER, str(c.folder / "pipeline.yaml"), str(c.root / "ws")],
                          capture_output=True, text=True, timeout=deadline)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    return c, run_dir, load_record(run_dir)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_link_to_a_fifo_or_device_in_outputs_fails_the_step_quickly_and_names_the_file(case, tmp_path, kind):
    if kind == "fifo":
        target = tmp_path / "a.fifo"
        os.mkfifo(target)
    else:
        target = Path("/dev/zero")
    c, _, record = _run_linker(case, str(target))
    step = record.steps["produce"]
    assert step["status"] == StepStatus.FAILED and step["error_type"] == "data_compatibility_error"
    assert "link.csv" in step["error_message"] and str(target) in step["error_message"]
    assert ("a FIFO" if kind == "fifo" else "a device") in step["error_message"]
    assert record.steps.get("consume", {}).get("status") != StepStatus.SUCCEEDED
    assert not (c.root / "ws" / "cache").exists() or not any(
        (c.root / "ws" / "cache").iterdir())  # nothing of it was cached


def test_a_fifo_written_into_outputs_fails_the_step(case):
    script = "import os\ndef main(i, o, e, a):\n    os.mkfifo(os.path.join(o['out'], 'pipe'))\n"
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}}},
             "consume": {"script": "consume.py", "inputs": {"IN": {"from": "produce.out"}}}}
    c = case(steps, {"produce.py": script, "consume.py": "def main(*a):\n    pass\n"})
    done = subprocess.run([sys.executable, "-c", RUNNER, str(c.folder / "pipeline.yaml"), str(c.root / "ws")],
                          capture_output=True, text=True, timeout=30)
    record = load_record(Path(done.stdout.strip().splitlines()[-1]))
    step = record.steps["produce"]
    assert step["error_type"] == "data_compatibility_error" and "holds pipe, a FIFO" in step["error_message"]


def test_a_link_out_of_the_run_is_recorded_as_a_link_never_followed(case, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_text("TOPSECRET,column\n1,2\n")
    c, run_dir, record = _run_linker(case, str(secret))
    produce = record.steps["produce"]
    assert produce["status"] == StepStatus.SUCCEEDED
    assert any("link.csv is a symbolic link to " + str(secret) in w for w in produce["warnings"])
    entry = c.root / "ws" / "cache" / produce["cache_key"] / "outputs" / "out"
    assert os.path.islink(entry / "link.csv") and os.readlink(entry / "link.csv") == str(secret)
    for path in _cache_files(c.root / "ws"):
        if not path.is_symlink():
            assert b"TOPSECRET" not in path.read_bytes(), path
    from pipetest_nb.validation.artifacts import inspect_output

    info = inspect_output(run_dir / "steps" / "produce" / "outputs" / "out")
    link = info.files["link.csv"]
    assert (link.format, link.tabular, link.link) == ("link", False, str(secret))  # not read through
    assert info.to_dict()["files"]["link.csv"]["link"] == str(secret)


# -- file names that are not UTF-8 --

BAD_NAME = """
import os
def main(input_paths, output_paths, environ_vars, job_args):
    with open(os.fsencode(output_paths["out"]) + b"/bad\\xff.csv", "wb") as fh:
        fh.write(b"a,b\\n1,2\\n3,4\\n")
"""


def test_undecodable_file_names_are_data_not_a_problem_and_the_report_shows_them(case, tmp_path):
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {"format": "csv"}}},
             "consume": {"script": "consume.py", "inputs": {"IN": {"from": "produce.out", "format": "csv",
                                                                   "schema": {"required_columns": ["a"]}}}}}
    c = case(steps, {"produce.py": BAD_NAME, "consume.py": "def main(*a):\n    pass\n"})
    run_dir, record = _run(c)
    assert record.steps["produce"]["status"] == StepStatus.SUCCEEDED, record.steps["produce"].get("error_message")
    assert record.steps["produce"]["metrics"]["rows_out"] == 2
    assert record.steps["consume"]["status"] == StepStatus.SUCCEEDED

    from pipetest_nb.validation.artifacts import frame, inspect_output

    info = inspect_output(run_dir / "steps" / "produce" / "outputs" / "out")
    assert list(info.to_dict()["files"]) == ["bad\\xff.csv"]
    assert frame(info)["b"].tolist() == [2, 4]

    from pipetest_nb.views.report.data import report_json
    from pipetest_nb.views.report.html import write_html_report

    html = write_html_report(run_dir).read_text(encoding="utf-8")
    assert "pipetest" in html.lower()
    json.dumps(report_json(run_dir), allow_nan=False)
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "report", str(run_dir), "-o",
                           str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["steps"]["produce"]["status"] == StepStatus.SUCCEEDED

    second_dir, second = _run(c)  # and the cache keeps the name's bytes
    assert second.steps["produce"]["status"] == StepStatus.CACHED
    assert os.listdir(os.fsencode(second_dir / "steps" / "produce" / "outputs" / "out")) == [b"bad\xff.csv"]


def test_a_report_of_a_record_holding_an_undecodable_name_renders(case, tmp_path):
    """Old records (or warnings of steps) may hold such names as text: the report never crashes on them."""
    c = case({"produce": {"script": "produce.py", "outputs": {"out": {}}}}, {"produce.py": BAD_NAME})
    run_dir, _ = _run(c)
    record = json.loads((run_dir / "run.json").read_text())
    record["steps"]["produce"]["warnings"] = [os.fsdecode(b"wrote bad\xff.csv")]
    (run_dir / "run.json").write_text(json.dumps(record))
    from pipetest_nb.views.report.data import report_json
    from pipetest_nb.views.report.html import write_html_report

    html = write_html_report(run_dir).read_text(encoding="utf-8")
    assert "wrote bad\\xff.csv" in html
    assert report_json(run_dir)["steps"]["produce"]["warnings"] == ["wrote bad\\xff.csv"]


def test_outputs_reused_from_an_older_run_are_copies_it_keeps_its_bytes(case):
    from pipetest_nb.engine.executor import PipelineExecutor

    c = case(*_chain("def main(*a):\n    pass\n"))
    first_dir, _ = _run(c, cache=False)
    (c.folder / "consume.py").write_text(EDIT_INPUT_IN_PLACE)  # now run the consumer alone, and it edits its input
    consume_alone = PipelineExecutor(c.root / "ws", cache=False).execute_pipeline(
        c.dag, data_source="files", from_steps=["consume"])
    assert consume_alone.steps["consume"].success and consume_alone.steps["produce"].status == StepStatus.CACHED
    assert (first_dir / "steps" / "produce" / "outputs" / "out" / "t.csv").read_bytes() == ORIGINAL


def test_well_behaved_steps_side_by_side_raise_no_outside_write_warning(case):
    write = "import time\n" + PRODUCE + "    time.sleep(0.3)  # so that the three overlap\n"
    steps = {"produce": {"script": "produce.py", "outputs": {"out": {}}},
             **{name: {"script": "w.py", "inputs": {"IN": {"from": "produce.out"}}, "outputs": {"out": {}}}
                for name in ("left", "right", "middle")},
             "join": {"script": "w.py", "inputs": {"IN": {"from": "left.out"}}, "depends_on": ["right", "middle"],
                      "outputs": {"out": {}}}}
    c = case(steps, {"produce.py": PRODUCE, "w.py": write})
    for _ in range(2):  # once running, once from the cache
        with c.session(cache=True) as session:
            session.run_all(jobs=3)
            record = load_record(session.run_dir)
        assert all(s["status"] in StepStatus.DONE_OK for s in record.steps.values())
        for name, step in record.steps.items():
            assert not step.get("warnings"), (name, step.get("warnings"))
