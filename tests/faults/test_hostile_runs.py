"""Hostile or damaged run folders: every reader gives a clear RunRecordError or opens, never hangs.

A real run is copied and damaged by hand (symlinks out of the folder, FIFOs, devices, huge files,
wrong JSON types, torn tails, step names that are paths); ``load_record``, ``Session.open``,
``pipetest report``, ``pipetest runs`` and the debugger's run list must each either open it or say
which run folder, which file and what is wrong — within a deadline (the CLI as subprocesses with a
timeout, in-process calls in a watched thread). A run whose writer died shows as interrupted, and
reading it writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipetest_nb import Session
from pipetest_nb.events import EventKind, StepStatus
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.records.record import load_record, read_events
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.records.writer import open_writer

SECRET = "OUTSIDE-THE-RUN-FOLDER-7f3a"  # in files outside the run folder: no reader may show it

PIPELINE = """
name: hostile-runs
defaults: {isolation: inprocess, timeout: 60}
steps:
  a:
    script: a.py
    outputs: {out: {}}
  b:
    script: b.py
    inputs: {data: a.out}
"""
SCRIPTS = {
    "a.py": """
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            print("hello from a")
            (Path(output_paths["out"]) / "x.txt").write_text("x")
    """,
    "b.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    print('hello from b')\n",
}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, healthy run of two steps."""
    folder = tmp_path_factory.mktemp("base") / "pipeline"
    folder.mkdir()
    for name, source in SCRIPTS.items():
        (folder / name).write_text(textwrap.dedent(source))
    (folder / "pipeline.yaml").write_text(PIPELINE)
    with Session(folder / "pipeline.yaml", folder.parent / "ws", progress=False, cache=False) as session:
        session.run_all()
        assert session.status == {"a": "succeeded", "b": "succeeded"}
        return session.run_dir


# --------------------------------------------------------------------------------------------------
# The damage
# --------------------------------------------------------------------------------------------------


def _json(run_dir: Path, change: Callable[[Any], Any]) -> None:
    path = run_dir / "run.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _set(path: list[str], value: Any) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        def change(data: dict) -> dict:
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return data

        _json(run_dir, change)

    return damage


def _replace(name: str, make: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        (run_dir / name).unlink()
        make(run_dir / name, outside)

    return damage


def _symlink_outside(path: Path, outside: Path) -> None:
    target = outside / f"copy-of-{path.name}"
    target.write_text((path.parent / f".{path.name}.orig").read_text())
    path.symlink_to(target)


def _char_device(path: Path, outside: Path) -> None:
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero's device
    except (PermissionError, OSError):
        path.symlink_to("/dev/zero")


def _append(text: str | bytes) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        with open(run_dir / "events.jsonl", "ab") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)

    return damage


def _event(**fields: Any) -> str:
    return json.dumps({"seq": 1000, "time": 1.0, "kind": "step_finished", "run_id": "r", "step": "a",
                       "data": {"status": "succeeded"}, **fields}) + "\n"


def _truncate(name: str, size: int) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        os.truncate(run_dir / name, size)  # sparse: big on paper, nothing on disk

    return damage


def _write(name: str, text: str) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        (run_dir / name).write_text(text)

    return damage


def _half_snapshot(run_dir: Path, outside: Path) -> None:
    text = (run_dir / "run.json").read_text()
    (run_dir / "run.json").write_text(text[: len(text) // 2])


def _log_symlink(run_dir: Path, outside: Path) -> None:
    (outside / "secret.log").write_text(SECRET)
    (run_dir / "steps" / "a" / "stdout.log").unlink()
    (run_dir / "steps" / "a" / "stdout.log").symlink_to(outside / "secret.log")


def _step_folder_symlink(run_dir: Path, outside: Path) -> None:
    (outside / "b").mkdir()
    (outside / "b" / "stdout.log").write_text(SECRET)
    shutil.rmtree(run_dir / "steps" / "b")
    (run_dir / "steps" / "b").symlink_to(outside / "b")


def _rename_step(new: str) -> Callable[[Path, Path], None]:
    def damage(run_dir: Path, outside: Path) -> None:
        _json(run_dir, lambda d: {**d, "steps": {new: d["steps"]["a"], "b": d["steps"]["b"]}})

    return damage


# (id, the file a RunRecordError must name, or None: it must open, damage)
VARIANTS: list[tuple[str, str | None, Callable[[Path, Path], None]]] = [
    ("run-json-symlink-outside", "run.json", _replace("run.json", _symlink_outside)),
    ("events-symlink-outside", "events.jsonl", _replace("events.jsonl", _symlink_outside)),
    ("run-json-fifo", "run.json", _replace("run.json", lambda p, o: os.mkfifo(p))),
    ("events-fifo", "events.jsonl", _replace("events.jsonl", lambda p, o: os.mkfifo(p))),
    ("run-json-dev-zero", "run.json", _replace("run.json", lambda p, o: p.symlink_to("/dev/zero"))),
    ("events-char-device", "events.jsonl", _replace("events.jsonl", _char_device)),
    ("run-json-folder", "run.json", _replace("run.json", lambda p, o: p.mkdir())),
    ("run-json-huge", "run.json", _truncate("run.json", 300 * 2**20)),
    ("events-huge-line", "events.jsonl", _truncate("events.jsonl", 70 * 2**20)),
    ("run-json-list", "run.json", _write("run.json", "[]")),
    ("run-json-deep", "run.json", _write("run.json", "[" * 200_000 + "]" * 200_000)),
    ("steps-string", "run.json", _set(["steps"], "abc")),
    ("edges-list", "run.json", _set(["edges"], [])),
    ("status-number", "run.json", _set(["status"], 5)),
    ("step-status-number", "run.json", _set(["steps", "a", "status"], 7)),
    ("metrics-string", "run.json", _set(["steps", "a", "metrics"], "fast")),
    ("output-path-number", "run.json", _set(["steps", "a", "outputs"], {"out": 5})),
    ("root-failure-string", "run.json", _set(["root_failure"], "boom")),
    ("newer-schema", "run.json", _set(["schema_version"], 99)),
    ("step-name-absolute", "run.json", _rename_step("/etc")),
    ("step-name-dotdot", "run.json", _rename_step("../../outside")),
    ("plan-step-dotdot", "run.json", _set(["plan", "execution_order"], ["a", "b", "../../../etc"])),
    ("event-step-dotdot", "events.jsonl", _append(_event(step="../../../tmp"))),
    ("event-list", "events.jsonl", _append("[1, 2]\n")),
    ("event-seq-string", "events.jsonl", _append(_event(seq="7"))),
    ("event-status-number", "events.jsonl", _append(_event(data={"status": 3}))),
    ("run-json-half-written", None, _half_snapshot),
    ("events-torn-tail", None, _append('{"seq": 99, "kind": "step_fini')),
    ("events-garbage-line", None, _append(b"\xff\xfe not json\n")),
    ("stdout-log-symlink-outside", None, _log_symlink),
    ("step-folder-symlink-outside", None, _step_folder_symlink),
]
IDS = [v[0] for v in VARIANTS]


def damaged(variant: tuple, base_run: Path, root: Path) -> Path:
    """A copy of the base run, damaged, at ``root/ws/runs/<variant id>``."""
    name, _, damage = variant
    run_dir = root / "ws" / "runs" / name
    shutil.copytree(base_run, run_dir, symlinks=True)
    for file in ("run.json", "events.jsonl"):
        shutil.copy(run_dir / file, run_dir / f".{file}.orig")
    outside = root / f"outside-{name}"
    outside.mkdir(parents=True)
    damage(run_dir, outside)
    for file in ("run.json", "events.jsonl"):
        (run_dir / f".{file}.orig").unlink()
    return run_dir


def _limited() -> None:
    """In the child: at most 3 GiB of address space, so reading /dev/zero is a MemoryError there, not an OOM here."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limited)


# In a child process (bounded memory, a deadline per call): each reader on each folder, one JSON line each.
READERS = r"""
import json, sys, threading
from pathlib import Path

def within(seconds, call):
    outcome = []
    def target():
        try:
            outcome.append(("ok", call()))
        except BaseException as exc:
            outcome.append(("error", exc))
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else ("hang", None)

def report(what, outcome):
    kind, value = outcome
    line = {"what": what, "outcome": kind}
    if kind == "error":
        line.update(type=type(value).__name__, message=str(value)[:2000])
    elif kind == "ok":
        line["value"] = value
    print(json.dumps(line, default=str), flush=True)

from pipetest_nb import Session
from pipetest_nb.records.record import load_record

def load(run_dir):
    record = load_record(run_dir)
    return {s: record.step_status(s) for s in ("a", "b")}

def open_and_close(run_dir):
    with Session.open(run_dir, progress=False) as session:
        return dict(session.status)

args = json.loads(sys.argv[1])
for run_dir in args["runs"]:
    report(["load_record", Path(run_dir).name], within(20, lambda: load(run_dir)))
    report(["Session.open", Path(run_dir).name], within(30, lambda: open_and_close(run_dir)))
if args.get("debugger"):
    def labels():
        from pipetest_nb import Debugger
        debugger = Debugger(workspace=args["debugger"])
        try:
            return [label for label, _ in debugger.runs_dropdown.options][1:]
        finally:
            debugger.close()
    report(["debugger", ""], within(120, labels))
"""


def run_readers(runs: list[Path], debugger: Path | None = None) -> dict[tuple[str, str], dict]:
    """What each reader did on each run folder: {(reader, folder name): {"outcome": ok|error|hang, ...}}."""
    done = subprocess.run([sys.executable, "-c", READERS, json.dumps({"runs": [str(r) for r in runs],
                                                                     "debugger": str(debugger or "")})],
                          capture_output=True, text=True, timeout=900, preexec_fn=_limited)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {tuple(line["what"]): line for line in lines}


def assert_clear(outcome: dict | None, file: str | None, run_dir: Path) -> None:
    assert outcome is not None, "the reader never answered (its process died: out of memory?)"
    assert outcome["outcome"] != "hang", "still reading after the deadline: a hang"
    if file is None:
        assert outcome["outcome"] == "ok", f"should open, got {outcome.get('type')}: {outcome.get('message')}"
        return
    assert outcome["outcome"] == "error", "should be refused with a RunRecordError, but it opened"
    assert outcome["type"] == "RunRecordError", f"bare {outcome['type']}: {outcome['message']}"
    assert str(run_dir) in outcome["message"] and file in outcome["message"], outcome["message"]


# --------------------------------------------------------------------------------------------------
# Each variant, each reader
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader_outcomes(base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("readers")
    runs = [damaged(variant, base_run, root) for variant in VARIANTS]
    return root / "ws" / "runs", run_readers(runs)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_load_record_and_session_open_refuse_clearly_or_open(variant, reader_outcomes):
    runs_dir, outcomes = reader_outcomes
    name, file, _ = variant
    loaded = outcomes.get(("load_record", name))
    assert_clear(loaded, file, runs_dir / name)
    if file is None:
        assert loaded["value"] == {"a": "succeeded", "b": "succeeded"}
    assert_clear(outcomes.get(("Session.open", name)), file, runs_dir / name)


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_pipetest_report_refuses_clearly_or_reports_only_the_run_folder(variant, base_run, tmp_path):
    run_dir = damaged(variant, base_run, tmp_path)
    _, file, _ = variant
    page = tmp_path / "report.html"
    done = cli("report", str(run_dir), "-o", str(page), "--json", str(tmp_path / "report.json"))
    assert "Traceback" not in done.stderr, done.stderr
    if file is None:
        assert done.returncode == 0, done.stderr
        text = page.read_text()
        assert SECRET not in text  # a log that is a symlink out of the folder is not read
        if variant[0] != "stdout-log-symlink-outside":
            assert "hello from a" in text
        json.loads(Path(tmp_path / "report.json").read_text())
    else:
        assert done.returncode == 1 and done.stderr.startswith("error: cannot read run "), done.stderr
        assert str(run_dir) in done.stderr and file in done.stderr


@pytest.fixture(scope="module")
def damaged_workspace(base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace holding every variant, a healthy run and a run folder that is a symlink."""
    root = tmp_path_factory.mktemp("damaged")
    for variant in VARIANTS:
        damaged(variant, base_run, root)
    shutil.copytree(base_run, root / "ws" / "runs" / "healthy")
    (root / "ws" / "runs" / "linked").symlink_to(base_run)
    return root / "ws"


def _listed(lines: list[str]) -> None:
    """Each broken variant on a line of its own as unreadable, the rest (and the healthy run) as succeeded."""
    broken = [name for name, file, _ in VARIANTS if file is not None] + ["linked"]
    for name in broken:
        [line] = [line for line in lines if line.split(" ", 1)[0] == name]
        assert "unreadable: " in line, line
    readable = [line for line in lines if "unreadable" not in line and "succeeded" in line]
    assert len(readable) == len([name for name, file, _ in VARIANTS if file is None]) + 1  # + the healthy run


def test_pipetest_runs_lists_unreadable_runs_with_the_reason(damaged_workspace):
    done = cli("runs", "--workspace", str(damaged_workspace), timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    _listed(done.stdout.splitlines())
    assert "unreadable: run.json: is a FIFO" in done.stdout
    assert "unreadable: run.json: is a symlink" in done.stdout


def test_the_debuggers_run_list_shows_unreadable_runs_with_the_reason(damaged_workspace):
    listed = run_readers([], debugger=damaged_workspace).get(("debugger", ""))
    assert listed is not None and listed["outcome"] == "ok", listed
    _listed(listed["value"])


# --------------------------------------------------------------------------------------------------
# Writing after damage
# --------------------------------------------------------------------------------------------------


def _started(tmp_path: Path):
    writer = Workspace(tmp_path).create_run("p")
    writer.emit(EventKind.RUN_STARTED, pipeline={"name": "p"}, steps=["a", "b"])
    writer.emit(EventKind.STEP_STARTED, "a")
    writer.close()
    return writer.folder.path


def test_after_a_torn_tail_the_next_event_starts_on_its_own_line(tmp_path):
    run_dir = _started(tmp_path)
    with open(run_dir / "events.jsonl", "a") as fh:
        fh.write('{"seq": 2, "kind": "step_fini')  # the writer was killed mid-line
    again = open_writer(run_dir)
    again.emit(EventKind.STEP_FINISHED, "a", status=StepStatus.SUCCEEDED)
    again.close()
    kinds = [(e.kind, e.step) for e in read_events(run_dir / "events.jsonl")]
    assert kinds[-1] == (EventKind.STEP_FINISHED, "a"), kinds
    (run_dir / "run.json").unlink()  # the events alone say it
    assert load_record(run_dir).steps["a"]["status"] == StepStatus.SUCCEEDED


def test_stale_temporary_snapshots_are_cleaned_when_the_run_is_written_again(tmp_path):
    run_dir = _started(tmp_path)
    stale = [run_dir / ".run.json.4242.139872.tmp", run_dir / ".run.json.77.1.tmp"]
    for path in stale:
        path.write_text('{"half')
    keep = run_dir / ".report.html.4242.tmp"  # not the writer's: left alone
    keep.write_text("x")
    again = open_writer(run_dir)
    again.emit(EventKind.STEP_FINISHED, "a", status=StepStatus.SUCCEEDED)
    again.close()
    assert not any(p.exists() for p in stale) and keep.exists()


# --------------------------------------------------------------------------------------------------
# A writer that is gone
# --------------------------------------------------------------------------------------------------

DYING_WRITER = """
import os, socket, sys, time
from pipetest_nb.events import EventKind
from pipetest_nb.records.workspace import Workspace
writer = Workspace(sys.argv[1]).create_run("p")
writer.emit(EventKind.RUN_STARTED, pipeline={"name": "p"}, steps=["a", "b"],
            runner={"pid": os.getpid(), "host": socket.gethostname()})  # as the engine records it
writer.emit(EventKind.STEP_STARTED, "a")
writer.flush()
print(writer.folder.path, flush=True)
time.sleep(600)
"""


def _state(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.parametrize("lock_file", ["kept", "removed"])
def test_a_running_run_whose_writer_is_gone_shows_as_interrupted(tmp_path, lock_file):
    from pipetest_nb import Debugger
    from pipetest_nb.views.report.data import report_json

    ws = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-c", DYING_WRITER, str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        dead_dir = Path(proc.stdout.readline().strip())
        alive = Workspace(ws).create_run("p")  # this process writes this one: it is running
        alive.emit(EventKind.RUN_STARTED, pipeline={"name": "p"}, steps=["a"])
        assert load_record(dead_dir).summary()["status"] == "running"  # its writer is still there
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    try:
        if lock_file == "removed":
            (dead_dir / ".lock").unlink()
        before = _state(ws)
        record = load_record(dead_dir)
        assert record.status == "running"  # the record is as the writer left it...
        summary = record.summary()
        assert summary["status"] == "interrupted" and summary["counts"] == {"interrupted": 1, "pending": 1}
        assert load_record(alive.folder.path).summary()["status"] == "running"

        listed = cli("runs", "--workspace", str(ws))
        [line] = [line for line in listed.stdout.splitlines() if dead_dir.name in line]
        assert " interrupted " in line and "running" not in line, listed.stdout
        [line] = [line for line in listed.stdout.splitlines() if alive.run_id in line]
        assert " running " in line, listed.stdout

        report = report_json(dead_dir)
        assert report["status"] == "interrupted" and report["steps"]["a"]["status"] == "interrupted"

        debugger = Debugger(workspace=ws)
        try:
            labels = [label for label, _ in debugger.runs_dropdown.options]
        finally:
            debugger.close()
        assert any(dead_dir.name in label and "· interrupted" in label for label in labels), labels
        assert _state(ws) == before  # ...and reading wrote nothing: no lock file, no snapshot
    finally:
        alive.close()
    # its writer (this process) lives on but let the run go while it said running: nobody writes it now
    assert load_record(alive.folder.path).summary()["status"] == "interrupted"


def test_runs_of_a_workspace_that_cannot_be_read_do_not_break_the_list(tmp_path, base_run):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(base_run, ws.runs_dir / "good")
    bad = ws.runs_dir / "bad"
    shutil.copytree(base_run, bad)
    (bad / "run.json").unlink()
    os.mkfifo(bad / "run.json")
    found: list = []
    thread = threading.Thread(target=lambda: found.append(ws.runs()), daemon=True)  # a FIFO: never block on it
    thread.start()
    thread.join(20)
    assert found, "Workspace.runs() still reading after 20 s: a hang"
    [runs] = found
    assert [r.problem is None for r in runs] == [True, False]
    assert runs[1].summary()["status"].startswith("unreadable: run.json: is a FIFO")
    with pytest.raises(PipetestError, match="cannot read run .*bad: run.json: is a FIFO"):
        load_record(bad)
