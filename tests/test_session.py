"""Session: the notebook-facing API, driven cell by cell as a user would."""

from __future__ import annotations

import threading
import time

import pytest
from pipelines import write_pipeline

from pipetest_nb import PipetestError, Session
from pipetest_nb.events import EventKind, StepStatus

PRODUCE = """
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    for split in ("train", "test"):
        folder = Path(output_paths["data"]) / split
        folder.mkdir(parents=True)
        pd.DataFrame({"id": range(10), "split": split}).to_parquet(folder / f"{split}.parquet")
"""

CONSUME = """
import time
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    time.sleep(float(environ_vars.get("SLEEP", "0")))
    frame = pd.read_parquet(Path(input_paths["DATA"]) / "train")
    out = Path(output_paths["counts"])
    out.mkdir(exist_ok=True)  # the folder exists already, as on SageMaker
    frame.groupby("split").size().reset_index(name="n").to_csv(out / "counts.csv", index=False)
"""

PIPELINE = """
name: two-steps
steps:
  produce: {script: produce.py, outputs: {data: {format: parquet}}}
  consume:
    script: consume.py
    inputs: {DATA: produce.data}
    outputs: {counts: {format: csv}}
    env: {SLEEP: "%s"}
"""


def session_for(tmp_path, sleep="0", **options) -> Session:
    path = write_pipeline(tmp_path / "p", PIPELINE % sleep, {"produce.py": PRODUCE, "consume.py": CONSUME})
    return Session(path, tmp_path / "ws", **options)


def test_step_by_step_with_frames_between(tmp_path):
    with session_for(tmp_path, isolation="inprocess", progress=False) as session:
        assert session.next_step() == "produce"
        first = session.step()
        assert first.success and session.status == {"produce": "succeeded", "consume": "pending"}
        train = session.outputs("produce").frame(table="train/*.parquet")
        assert list(train["split"].unique()) == ["train"] and len(train) == 10
        assert len(session.outputs("produce").frame(table="*/*.parquet")) == 20  # a glob concatenates
        with pytest.raises(PipetestError, match=r"2 tables \(test, train\): pick one"):
            session.outputs("produce").frame()
        assert sorted(session.outputs("produce").tables()) == ["test", "train"]
        assert session.step().success
        assert session.outputs("consume").frame("counts").to_dict("records") == [{"split": "train", "n": 10}]
        assert session.step() is None


def test_events_reach_subscribers_in_order(tmp_path):
    with session_for(tmp_path, isolation="inprocess", progress=False) as session:
        seen = []
        session.events.subscribe(lambda e: seen.append((e.kind, e.step)))
        session.run_all()
        kinds = [k for k, _ in seen if k != EventKind.STEP_OUTPUT]
        assert kinds[0] == EventKind.STEP_STARTED and kinds[-1] == EventKind.RUN_FINISHED
        assert (EventKind.STEP_FINISHED, "consume") in seen
        assert [e.kind for e in session.history()][0] == EventKind.RUN_STARTED


def test_progress_bar_ticks_once_per_step(tmp_path, capsys):
    with session_for(tmp_path, isolation="inprocess", progress=True) as session:
        session.run_all()
    err = capsys.readouterr().err
    assert "2/2" in err and "consume" in err


def test_stop_kills_the_running_step_and_the_session_goes_on(tmp_path):
    with session_for(tmp_path, sleep="60", progress=False) as session:
        session.step()
        worker = threading.Thread(target=session.step)
        worker.start()
        deadline = time.time() + 30
        while session.record["steps"]["consume"].get("pid") is None:
            assert time.time() < deadline
            time.sleep(0.05)
        session.stop()
        worker.join(30)
        assert not worker.is_alive()
        result = session.result("consume")
        assert result.status == StepStatus.INTERRUPTED and result.error_type == "interrupted"
        assert session.next_step() == "consume"  # runnable again


def test_reset_starts_a_new_run_and_keeps_the_old(tmp_path):
    with session_for(tmp_path, isolation="inprocess", progress=False) as session:
        session.run_all()
        old = session.run_id
        seen = []
        session.events.subscribe(lambda e: seen.append((e.kind, e.run_id)))
        session.reset()
        assert session.run_id != old and session.status == {"produce": "pending", "consume": "pending"}
        assert seen == [(EventKind.RUN_STARTED, session.run_id)]  # views hear of the new run at once
        assert [r["run_id"] for r in session.runs()] == [old]  # the new run is on disk once a step runs
        session.step()
        assert [r["run_id"] for r in session.runs()] == [session.run_id, old]


def test_unknown_step_and_output_are_named(tmp_path):
    with session_for(tmp_path, isolation="inprocess", progress=False) as session:
        with pytest.raises(PipetestError, match="did you mean 'consume'"):
            session.run(until="consme")
        session.step()
        with pytest.raises(PipetestError, match="has no output 'nope'"):
            session.outputs("produce").frame("nope")


def test_diff_against_another_run(tmp_path):
    with session_for(tmp_path, isolation="inprocess", progress=False) as first:
        first.run_all()
        old_dir = first.run_dir
    with session_for(tmp_path, isolation="inprocess", progress=False, cache=False) as second:
        second.run_all()
        diff = second.diff(old_dir, "produce.data")
        assert "row" in str(diff).lower()


def test_debug_step_runs_in_process_and_returns_the_exception(tmp_path):
    path = write_pipeline(tmp_path / "p", "steps:\n  bad: {script: bad.py}\n",
                          {"bad.py": "def main(*a):\n    ratio = 1 / 0\n"})
    with Session(path, tmp_path / "ws", progress=False) as session:
        assert session.run_all().steps["bad"].status == StepStatus.FAILED
        exc = session.debug_step("bad")
        assert isinstance(exc, ZeroDivisionError)
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        assert frames[-1].endswith("bad.py")  # post-mortem lands in the script's own frame
        assert session.record["steps"]["bad"]["isolation"] == "inprocess"
