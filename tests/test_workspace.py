"""Run folders: the record as a fold over events, torn writes, locks, safe paths, secrets masked."""

from __future__ import annotations

import json

import pytest

from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.exceptions import PipetestError, RunLockedError, RunNotFoundError
from pipetest_nb.records.folder import RunFolder
from pipetest_nb.records.masking import MASK, mask_env
from pipetest_nb.records.record import load_record
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.records.writer import open_writer


def started(writer, steps=("a", "b")):
    writer.emit(EventKind.RUN_STARTED, pipeline={"name": "p"}, steps=list(steps))


def test_record_is_rebuilt_from_events_when_the_snapshot_is_stale(tmp_path):
    ws = Workspace(tmp_path)
    writer = ws.create_run("p")
    writer.snapshot_interval = 3600  # only forced snapshots
    started(writer)
    writer.emit(EventKind.STEP_STARTED, "a")
    writer.emit(EventKind.STEP_FINISHED, "a", status=StepStatus.SUCCEEDED, metrics={"duration": 1.5})
    snapshot = json.loads(writer.folder.record_path.read_text())
    assert snapshot["steps"]["a"]["status"] == StepStatus.PENDING  # not rewritten per event
    record = load_record(writer.folder.path)
    assert record.steps["a"]["status"] == StepStatus.SUCCEEDED and record.steps["a"]["attempts"] == 1
    assert record.steps["b"]["status"] == StepStatus.PENDING
    writer.close()
    assert json.loads(writer.folder.record_path.read_text())["steps"]["a"]["status"] == StepStatus.SUCCEEDED


def test_a_torn_last_event_line_is_ignored(tmp_path):
    writer = Workspace(tmp_path).create_run("p")
    started(writer)
    writer.emit(EventKind.STEP_STARTED, "a")
    writer.close()
    with open(writer.folder.events_path, "a") as fh:
        fh.write('{"seq": 99, "kind": "step_fini')
    record = load_record(writer.folder.path)
    assert record.steps["a"]["status"] == StepStatus.RUNNING


def test_unreadable_snapshot_falls_back_to_the_event_log(tmp_path):
    writer = Workspace(tmp_path).create_run("p")
    started(writer)
    writer.emit(EventKind.STEP_FINISHED, "a", status=StepStatus.FAILED)
    writer.close()
    writer.folder.record_path.write_text("{half a")
    assert load_record(writer.folder.path).steps["a"]["status"] == StepStatus.FAILED


def test_second_writer_is_refused_until_the_first_closes(tmp_path):
    writer = Workspace(tmp_path).create_run("p")
    started(writer)
    second = open_writer(writer.folder.path)  # reading is allowed; writing is not
    with pytest.raises(RunLockedError, match="being written by another process"):
        second.emit(EventKind.STEP_STARTED, "b")
    writer.close()
    again = open_writer(writer.folder.path)
    again.emit(EventKind.STEP_STARTED, "b")
    again.close()
    assert load_record(writer.folder.path).steps["b"]["status"] == StepStatus.RUNNING


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunNotFoundError, match="not a pipetest run folder"):
        load_record(tmp_path)


def test_runs_are_listed_newest_first(tmp_path):
    ws = Workspace(tmp_path)
    ids = []
    for _ in range(3):
        writer = ws.create_run("p")
        started(writer)
        writer.close()
        ids.append(writer.run_id)
    assert [r.run_id for r in ws.runs()] == ids[::-1]
    assert ws.runs()[0].summary()["counts"] == {"pending": 2}


@pytest.mark.parametrize("name", ["../x", "/etc", "a\x00b", ".hidden", "a/b"])
def test_names_never_leave_the_run_folder(tmp_path, name):
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(PipetestError, match="refusing path"):
        folder.output_dir("step", name)


def test_symlinked_output_folder_pointing_outside_is_refused(tmp_path):
    folder = RunFolder(tmp_path / "run")
    (tmp_path / "run" / "steps" / "s" / "outputs").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / "steps" / "s" / "outputs" / "out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PipetestError, match="resolves outside the run folder"):
        folder.output_dir("s", "out")


def test_secret_looking_env_values_are_masked():
    env = {"API_KEY": "k", "DB_PASSWORD": "p", "aws_secret_access": "s", "GITHUB_TOKEN": "t",
           "MY_CREDENTIALS": "c", "LABEL_FIELD": "label"}
    masked = mask_env(env)
    assert masked["LABEL_FIELD"] == "label"
    assert all(masked[k] == MASK for k in env if k != "LABEL_FIELD")
