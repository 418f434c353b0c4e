"""Launchers run real step scripts written to disk, in each isolation mode, and classify what happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

from pipetest_nb.exceptions import LaunchError
from pipetest_nb.launch import (
    InProcessLauncher,
    Launcher,
    PoolLauncher,
    StepJob,
    SubprocessLauncher,
    get_launcher,
)
from pipetest_nb.launch.script import cli_arguments, env_name, import_hint

MODES = ["inprocess", "pool", "subprocess"]
PROCESS_MODES = ["pool", "subprocess"]


@pytest.fixture(scope="module")
def launchers():
    made = {"inprocess": InProcessLauncher(), "pool": PoolLauncher(workers=2), "subprocess": SubprocessLauncher()}
    yield made
    for launcher in made.values():
        launcher.close()


@pytest.fixture(params=MODES)
def launcher(request, launchers) -> Launcher:
    return launchers[request.param]


@pytest.fixture(params=PROCESS_MODES)
def process_launcher(request, launchers) -> Launcher:
    return launchers[request.param]


def make_job(tmp_path: Path, source: str, *, name: str = "step_script.py", mode: str = "main",
             inputs: dict[str, str] | None = None, outputs: tuple[str, ...] = ("out",),
             env: dict[str, str] | None = None, args: dict | None = None, **options) -> StepJob:
    scripts = tmp_path / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    script = scripts / name
    script.write_text(textwrap.dedent(source))
    step_dir = tmp_path / "run" / "steps" / script.stem
    output_paths = {}
    for out in outputs:
        (step_dir / "outputs" / out).mkdir(parents=True, exist_ok=True)
        output_paths[out] = str(step_dir / "outputs" / out)
    return StepJob(step=script.stem, script=str(script), mode=mode, input_paths=inputs or {},
                   output_paths=output_paths, environ_vars=env or {}, job_args=args,
                   step_dir=str(step_dir), workdir=str(tmp_path), **options)


def logs(job: StepJob) -> tuple[str, str]:
    """The step's stdout and stderr logs ("" for a stream an in-process step printed nothing to: it has no file)."""
    step_dir = Path(job.step_dir)
    return tuple(path.read_text(errors="replace") if path.exists() else ""
                 for path in (step_dir / "stdout.log", step_dir / "stderr.log"))


def assert_nothing_extra(job: StepJob, expected: dict[str, set[str]]) -> None:
    for name, folder in job.output_paths.items():
        assert {p.name for p in Path(folder).iterdir()} == expected.get(name, set())


# --- what scripts do -----------------------------------------------------------------------------


def test_main_mode_reads_and_writes_parquet(tmp_path, launcher):
    import pandas as pd

    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_parquet(raw / "part-0.parquet")
    job = make_job(tmp_path, """
        from pathlib import Path
        import pandas as pd

        def main(input_paths, output_paths, environ_vars, job_args):
            frame = pd.read_parquet(Path(input_paths["DATA"]) / "part-0.parquet")
            frame["y"] = frame["x"] * int(environ_vars["FACTOR"])
            frame.to_parquet(Path(output_paths["out"]) / "table.parquet")
            print("rows", len(frame))
        """, inputs={"DATA": str(raw)}, env={"FACTOR": "2"})
    starts = []
    outcome = launcher.launch(job, on_start=lambda pid, pgid: starts.append((pid, pgid)))
    assert outcome.succeeded, outcome.error_message
    assert outcome.error_type is None
    table = pd.read_parquet(Path(job.output_paths["out"]) / "table.parquet")
    assert table["y"].tolist() == [1.0, 3.0, 5.0]
    assert logs(job)[0] == "rows 3\n"
    assert_nothing_extra(job, {"out": {"table.parquet"}})
    assert starts == [(outcome.pid, outcome.pgid)]
    assert outcome.wall_time > 0 and outcome.finished_at >= outcome.started_at > 0
    assert outcome.cpu_time is not None and outcome.peak_rss and outcome.peak_rss > 10 * 2**20
    assert outcome.extra["script_time"] > 0
    if launcher.name != "inprocess":
        assert outcome.pgid == outcome.pid != os.getpid()


def test_cli_mode_runs_the_file_as_a_program(tmp_path, launcher):
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n2\n")
    job = make_job(tmp_path, """
        import argparse, os, sys
        from pathlib import Path

        parser = argparse.ArgumentParser()
        parser.add_argument("--job_type", required=True)
        parser.add_argument("--verbose", action="store_true")
        parser.add_argument("--splits", nargs="+")
        parser.add_argument("--seed", type=int)

        if __name__ == "__main__":
            args = parser.parse_args()
            rows = Path(os.environ["PIPETEST_INPUT_RAW_DATA"]).read_text().splitlines()
            out = Path(os.environ["PIPETEST_OUTPUT_OUT"])
            (out / "result.txt").write_text(f"{args.job_type} {args.verbose} {args.splits} {args.seed} "
                                            f"{len(rows)} {os.environ['MODE']} {sys.argv[0]}")
        """, mode="cli", inputs={"raw-data": str(data)}, env={"MODE": "test"},
        args={"job_type": "training", "verbose": True, "splits": ["train", "val"], "seed": 7, "skip": None})
    outcome = launcher.launch(job)
    assert outcome.succeeded, outcome.error_message
    text = (Path(job.output_paths["out"]) / "result.txt").read_text()
    assert text == f"training True ['train', 'val'] 7 3 test {job.script}"


def test_env_vars_are_in_os_environ_too_and_put_back(tmp_path, launcher):
    job = make_job(tmp_path, """
        import os
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            assert os.environ["LABEL_FIELD"] == environ_vars["LABEL_FIELD"] == "churn"
            os.environ["LEAKED_BY_SCRIPT"] = "1"
            (Path(output_paths["out"]) / "cwd.txt").write_text(os.getcwd())
        """, env={"LABEL_FIELD": "churn"})
    cwd = os.getcwd()
    outcome = launcher.launch(job)
    assert outcome.succeeded, outcome.error_message
    assert (Path(job.output_paths["out"]) / "cwd.txt").read_text() == job.workdir
    assert "LABEL_FIELD" not in os.environ and "LEAKED_BY_SCRIPT" not in os.environ
    assert os.getcwd() == cwd


def test_a_script_starting_a_spawn_pool_is_importable_under_its_own_name(tmp_path, launcher):
    job = make_job(tmp_path, """
        import multiprocessing
        from pathlib import Path

        def square(x):
            return x * x

        def main(input_paths, output_paths, environ_vars, job_args):
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                total = sum(pool.map(square, range(10)))
            (Path(output_paths["out"]) / "total.txt").write_text(str(total))
        """, name="pooled_step.py", timeout=60)
    outcome = launcher.launch(job)
    assert outcome.succeeded, outcome.error_message
    assert (Path(job.output_paths["out"]) / "total.txt").read_text() == "285"
    assert "pooled_step" not in sys.modules


@pytest.mark.parametrize("with_logger", [True, False])
def test_logger_is_passed_only_when_main_takes_it(tmp_path, launcher, with_logger):
    signature = "input_paths, output_paths, environ_vars, job_args, logger=None" if with_logger else "*args"
    job = make_job(tmp_path, f"""
        def main({signature}):
            if {with_logger}:
                logger("via logger", 42)
            else:
                assert len(args) == 4, args
                print("no logger")
        """)
    outcome = launcher.launch(job)
    assert outcome.succeeded, outcome.error_message
    assert logs(job)[0] == ("via logger 42\n" if with_logger else "no logger\n")


@pytest.mark.parametrize("args, expected", [(None, "None"), ({}, "None"),
                                            ({"job_type": "training"}, "Namespace(job_type='training')")])
def test_job_args_are_a_namespace_or_none(tmp_path, launcher, args, expected):
    job = make_job(tmp_path, """
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            (Path(output_paths["out"]) / "args.txt").write_text(repr(job_args))
        """, args=args)
    assert launcher.launch(job).succeeded
    assert (Path(job.output_paths["out"]) / "args.txt").read_text() == expected


# --- how scripts fail ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, None])
def test_sys_exit_zero_is_success(tmp_path, launcher, code):
    job = make_job(tmp_path, f"""
        import sys

        def main(*args):
            sys.exit({code})
        """)
    outcome = launcher.launch(job)
    assert outcome.succeeded and outcome.error_type is None


def test_sys_exit_3_is_an_exit_code_with_the_stderr_tail(tmp_path, launcher):
    job = make_job(tmp_path, """
        import sys

        def main(*args):
            print("fatal: the label column is missing", file=sys.stderr)
            sys.exit(3)
        """)
    outcome = launcher.launch(job)
    assert (outcome.status, outcome.error_type, outcome.returncode) == ("failed", "exit_code", 3)
    assert "exited with code 3" in outcome.error_message
    assert "fatal: the label column is missing" in outcome.error_message


def test_an_exception_keeps_its_type_and_the_scripts_own_frames(tmp_path, launcher):
    job = make_job(tmp_path, """
        def helper(frame):
            return frame["missing"]

        def main(input_paths, output_paths, environ_vars, job_args):
            helper({})
        """, name="train_model.py")
    outcome = launcher.launch(job)
    assert (outcome.status, outcome.error_type, outcome.exception_type) == ("failed", "execution_error", "KeyError")
    assert outcome.error_message == "KeyError: 'missing' (train_model.py, line 3, in helper)"
    assert 'train_model.py", line 6, in main' in outcome.traceback
    assert "pipetest_nb" not in outcome.traceback and "runpy" not in outcome.traceback


def test_a_missing_module_names_it_and_what_to_install(tmp_path, launcher):
    job = make_job(tmp_path, """
        import pipetest_no_such_module_xyz

        def main(*args):
            pass
        """)
    outcome = launcher.launch(job)
    assert outcome.error_type == "import_error"
    assert "'pipetest_no_such_module_xyz' is not installed" in outcome.error_message
    assert "pip install pipetest_no_such_module_xyz" in outcome.error_message
    assert outcome.exception_type == "ModuleNotFoundError"


def test_import_hint_knows_pip_names_and_submodules():
    assert "pip install scikit-learn" in import_hint(ModuleNotFoundError("x", name="sklearn"))
    assert "pip install opencv-python" in import_hint(ModuleNotFoundError("x", name="cv2.dnn"))
    hint = import_hint(ModuleNotFoundError("x", name="pandas.no_such_part"))
    assert "'pandas' is installed" in hint and "pip install" not in hint
    assert import_hint(ImportError("cannot import name 'x' from 'y'")) == (
        "ImportError: cannot import name 'x' from 'y'")


def test_a_missing_script_is_script_not_found(tmp_path, launcher):
    job = make_job(tmp_path, "")
    job.script = str(tmp_path / "scripts" / "nowhere.py")
    outcome = launcher.launch(job)
    assert outcome.error_type == "script_not_found"
    assert job.script in outcome.error_message and f"step '{job.step}'" in outcome.error_message


def test_a_script_without_main_says_to_use_cli_mode(tmp_path, launcher):
    outcome = launcher.launch(make_job(tmp_path, "print('top level only')\n"))
    assert outcome.error_type == "execution_error"
    assert "has no main(" in outcome.error_message and "mode: cli" in outcome.error_message


def test_a_missing_working_directory_is_reported_not_raised(tmp_path, launcher):
    job = make_job(tmp_path, "def main(*args):\n    pass\n")
    job.workdir = str(tmp_path / "gone")
    outcome = launcher.launch(job)
    assert outcome.error_type == "execution_error"
    assert "FileNotFoundError" in outcome.error_message and "gone" in outcome.error_message


def test_memory_error_is_out_of_memory(tmp_path, launcher):
    job = make_job(tmp_path, """
        def main(*args):
            raise MemoryError()
        """)
    outcome = launcher.launch(job)
    assert outcome.error_type == "out_of_memory" and outcome.exception_type == "MemoryError"


def test_a_memory_limit_turns_a_big_allocation_into_out_of_memory(tmp_path, process_launcher):
    job = make_job(tmp_path, """
        def main(*args):
            block = bytearray(6 * 2**30)
            print(len(block))
        """, memory=3 * 2**30)
    outcome = process_launcher.launch(job)
    assert outcome.error_type == "out_of_memory", outcome.error_message
    assert "memory limit 3072 MiB" in outcome.error_message


def test_a_segfault_is_a_signal_and_the_caller_survives(tmp_path, process_launcher):
    job = make_job(tmp_path, """
        import ctypes

        def main(*args):
            print("before the crash", flush=True)
            ctypes.string_at(0)
        """, name="crashing_step.py")
    outcome = process_launcher.launch(job)
    assert (outcome.status, outcome.error_type, outcome.signal) == ("failed", "signal", signal.SIGSEGV)
    assert "SIGSEGV" in outcome.error_message
    assert "crashing_step.py" in logs(job)[1]  # faulthandler's Python traceback
    assert logs(job)[0] == "before the crash\n"


def test_os_exit_is_an_exit_code(tmp_path, process_launcher):
    job = make_job(tmp_path, """
        import os

        def main(*args):
            os._exit(4)
        """)
    outcome = process_launcher.launch(job)
    assert (outcome.error_type, outcome.returncode) == ("exit_code", 4)


def test_a_timeout_kills_the_whole_process_group(tmp_path, process_launcher):
    pid_file = tmp_path / "grandchild.pid"
    job = make_job(tmp_path, f"""
        import subprocess, sys, time
        from pathlib import Path

        def main(*args):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            Path({str(pid_file)!r}).write_text(str(child.pid))
            while True:
                time.sleep(0.05)
        """, name="hanging_step.py", timeout=3)
    outcome = process_launcher.launch(job)
    assert (outcome.status, outcome.error_type) == ("failed", "timeout")
    assert "timed out after 3 s" in outcome.error_message
    assert "hanging_step.py" in logs(job)[1]  # where it was stuck, dumped just before the kill
    grandchild = int(pid_file.read_text())
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def test_an_inprocess_timeout_interrupts_python_code(tmp_path, launchers):
    job = make_job(tmp_path, """
        import time

        def main(*args):
            while True:
                time.sleep(0.02)
        """, timeout=1.0)
    outcome = launchers["inprocess"].launch(job)
    assert (outcome.status, outcome.error_type) == ("failed", "timeout")


PRINTS_READY_THEN_LOOPS = """
import time

def main(*args):
    print("ready", flush=True)
    while True:
        time.sleep(0.02)
"""


def test_stop_from_another_thread_interrupts_the_step(tmp_path, launcher):
    job = make_job(tmp_path, PRINTS_READY_THEN_LOOPS, timeout=30)
    ready = threading.Event()
    stopped = []

    def stopper():
        ready.wait(20)
        stopped.append(launcher.stop(job.step))

    thread = threading.Thread(target=stopper)
    thread.start()
    outcome = launcher.launch(job, on_output=lambda stream, text: "ready" in text and ready.set())
    thread.join()
    assert stopped == [True]
    assert (outcome.status, outcome.error_type) == ("interrupted", "interrupted")
    assert launcher.stop(job.step) is False


def test_ctrl_c_in_the_caller_kills_the_step_and_propagates(tmp_path, process_launcher):
    job = make_job(tmp_path, PRINTS_READY_THEN_LOOPS, timeout=30)
    ready = threading.Event()
    started = []
    interrupter = threading.Thread(target=lambda: ready.wait(20) and os.kill(os.getpid(), signal.SIGINT))
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        process_launcher.launch(job, on_start=lambda pid, pgid: started.append(pid),
                                on_output=lambda stream, text: "ready" in text and ready.set())
    interrupter.join()
    assert not psutil.pid_exists(started[0]) or psutil.Process(started[0]).status() == psutil.STATUS_ZOMBIE
    assert process_launcher.stop(job.step) is False


# --- logs ----------------------------------------------------------------------------------------


def test_50_mb_of_stdout_is_capped_with_head_and_tail_kept(tmp_path, launcher):
    job = make_job(tmp_path, """
        import sys

        def main(*args):
            print("FIRST LINE")
            block = "x" * 1023 + "\\n"
            for _ in range(50 * 1024):
                sys.stdout.write(block)
            print("LAST LINE")
        """, log_limit=256 * 1024)
    seen = []
    outcome = launcher.launch(job, on_output=lambda stream, text: seen.append(len(text)))
    assert outcome.succeeded
    total = len("FIRST LINE\n") + 50 * 2**20 + len("LAST LINE\n")
    assert sum(seen) == total
    data = (Path(job.step_dir) / "stdout.log").read_bytes()
    marker = f"\n[... {total - 256 * 1024} bytes omitted ...]\n".encode()
    assert len(data) == 256 * 1024 + len(marker)
    assert data.startswith(b"FIRST LINE\n") and data.endswith(b"xx\nLAST LINE\n") and marker in data


def test_non_utf8_output_is_kept_in_the_log_and_replaced_live(tmp_path, launcher):
    job = make_job(tmp_path, """
        import sys

        def main(*args):
            sys.stdout.flush()
            sys.stdout.buffer.write(b"caf\\xe9 \\xff\\xfe end\\n")
            sys.stdout.buffer.flush()
        """)
    seen = []
    outcome = launcher.launch(job, on_output=lambda stream, text: seen.append((stream, text)))
    assert outcome.succeeded
    assert (Path(job.step_dir) / "stdout.log").read_bytes() == b"caf\xe9 \xff\xfe end\n"
    assert "".join(t for s, t in seen if s == "stdout") == "caf\ufffd \ufffd\ufffd end\n"


# --- launcher behaviour --------------------------------------------------------------------------


def test_a_live_view_that_prints_the_output_does_not_feed_it_back(tmp_path, launcher, capsys):
    job = make_job(tmp_path, """
        def main(*args):
            print("from the step")
        """)
    echoed = []

    def echo(stream, text):
        echoed.append(text)
        print("view:", text, end="")

    outcome = launcher.launch(job, on_output=echo)
    assert outcome.succeeded
    assert "".join(echoed) == "from the step\n"
    assert logs(job)[0] == "from the step\n"
    assert "view: from the step" in capsys.readouterr().out


def test_inprocess_keeps_the_exception_for_debug_and_cleans_up(tmp_path):
    job = make_job(tmp_path, """
        import helper_module

        def main(*args):
            raise ValueError(helper_module.VALUE)
        """, name="debug_me.py")
    (Path(job.script).parent / "helper_module.py").write_text("VALUE = 'from the helper'\n")
    launcher = InProcessLauncher()
    path_before = list(sys.path)
    stdout_before = sys.stdout
    outcome = launcher.launch(job)
    assert outcome.error_message.startswith("ValueError: from the helper")
    exc = launcher.last_exception
    assert isinstance(exc, ValueError) and sys.last_value is exc
    assert exc.__traceback__ is sys.last_traceback
    assert "debug_me" not in sys.modules and "helper_module" not in sys.modules
    assert sys.path == path_before and sys.stdout is stdout_before
    (Path(job.script).parent / "helper_module.py").write_text("VALUE = 'edited'\n")
    assert launcher.launch(job).error_message.startswith("ValueError: edited")


def test_process_steps_report_memory_and_io_of_the_step(tmp_path, process_launcher):
    job = make_job(tmp_path, """
        import time
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            block = bytearray(300 * 2**20)
            (Path(output_paths["out"]) / "blob.bin").write_bytes(bytes(8 * 2**20))
            time.sleep(0.2)
        """)
    outcome = process_launcher.launch(job)
    assert outcome.succeeded, outcome.error_message
    assert outcome.peak_rss >= 300 * 2**20
    assert outcome.write_bytes >= 8 * 2**20
    assert outcome.cpu_time > 0


def test_steps_launched_from_two_threads_run_side_by_side(tmp_path, process_launcher):
    """Each step waits for the other to have started: run one after the other, both would time out."""
    source = """
        import time
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            Path(environ_vars["MINE"]).write_text("")
            while not Path(environ_vars["OTHER"]).exists():
                time.sleep(0.01)
        """
    a, b = str(tmp_path / "a.flag"), str(tmp_path / "b.flag")
    jobs = [make_job(tmp_path / "a", source, name="side_a.py", env={"MINE": a, "OTHER": b}, timeout=20),
            make_job(tmp_path / "b", source, name="side_b.py", env={"MINE": b, "OTHER": a}, timeout=20)]
    outcomes = {}
    threads = [threading.Thread(target=lambda j=j: outcomes.update({j.step: process_launcher.launch(j)}))
               for j in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {step: o.status for step, o in outcomes.items()} == {"side_a": "succeeded", "side_b": "succeeded"}


def test_pool_reuses_its_workers_and_replaces_a_dead_one(tmp_path):
    job = make_job(tmp_path, """
        import os
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            (Path(output_paths["out"]) / "parent.txt").write_text(str(os.getppid()))
        """)
    with PoolLauncher(workers=1) as pool:
        parents = set()
        for _ in range(3):
            assert pool.launch(job).succeeded
            parents.add((Path(job.output_paths["out"]) / "parent.txt").read_text())
        assert len(parents) == 1 and pool.workers == 1
        worker = psutil.Process(int(parents.pop()))
        worker.kill()
        worker.wait(5)
        assert pool.launch(job).succeeded
        assert int((Path(job.output_paths["out"]) / "parent.txt").read_text()) != worker.pid
    assert pool.workers == 0
    with pytest.raises(LaunchError, match="closed"):
        pool.launch(job)


def test_get_launcher_knows_every_isolation_and_names_the_choices():
    for isolation in MODES:
        launcher = get_launcher(isolation)
        assert launcher.name == isolation
        launcher.close()
    with pytest.raises(LaunchError, match="unknown isolation 'threads'; choose one of subprocess, inprocess, pool"):
        get_launcher("threads")


def test_cli_arguments_and_env_names():
    assert cli_arguments({"job_type": "training", "verbose": True, "quiet": False, "n": 3, "tags": ["a", "b"],
                          "none": None}) == ["--job_type", "training", "--verbose", "--n", "3", "--tags", "a", "b"]
    assert cli_arguments(None) == []
    assert env_name("input", "raw-data.v2") == "PIPETEST_INPUT_RAW_DATA_V2"



def test_inprocess_interrupts_leave_the_interpreter_healthy(tmp_path):
    """Clearing an async exception with NULL leaves CPython's pending flag set: cProfile then hangs."""
    loop = "import time\ndef main(*args):\n    print('ready', flush=True)\n    while True:\n        time.sleep(0.01)\n"
    (tmp_path / "loop.py").write_text(loop)
    (tmp_path / "quick.py").write_text("def main(*args):\n    pass\n")
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import cProfile, faulthandler, threading
        from pipetest_nb.launch import InProcessLauncher, StepJob

        def job(name, timeout):
            return StepJob(step=name, script={str(tmp_path)!r} + "/" + name + ".py", mode="main",
                           input_paths={{}}, output_paths={{}}, environ_vars={{}}, job_args=None,
                           step_dir={str(tmp_path)!r} + "/steps/" + name, workdir={str(tmp_path)!r},
                           timeout=timeout)

        launcher = InProcessLauncher()
        ready = threading.Event()
        threading.Thread(target=lambda: ready.wait(20) and launcher.stop("loop")).start()
        statuses = [launcher.launch(job("loop", 30), on_output=lambda s, t: ready.set()).status,
                    launcher.launch(job("loop", 0.3)).error_type,
                    launcher.launch(job("quick", 30)).status]
        faulthandler.dump_traceback_later(20, exit=True)
        cProfile.Profile().runcall(lambda: sum(i * i for i in range(1000)))
        print(statuses, "profiled")
        """))
    done = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['interrupted', 'timeout', 'succeeded'] profiled", done.stderr
