"""FuturesLauncher on a real Dask LocalCluster: steps run in subprocesses of the workers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest
from test_launch import logs, make_job

from pipetest_nb.launch import FuturesLauncher

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                       processes=True)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def launcher(client) -> FuturesLauncher:
    return FuturesLauncher(client.get_executor())


def test_a_step_runs_on_a_worker_and_a_crash_leaves_the_workers_alive(tmp_path, launcher, client):
    ok = make_job(tmp_path, """
        import os
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            print("hello from", environ_vars["WHO"])
            (Path(output_paths["out"]) / "pid.txt").write_text(str(os.getpid()))
        """, name="ok_step.py", env={"WHO": "dask"})
    crash = make_job(tmp_path, """
        import ctypes

        def main(*args):
            ctypes.string_at(0)
        """, name="crash_step.py")
    workers = set(client.scheduler_info()["workers"])
    outcome = launcher.launch(ok)
    assert outcome.succeeded, outcome.error_message
    assert logs(ok)[0] == "hello from dask\n"
    assert outcome.peak_rss and outcome.cpu_time is not None
    crashed = launcher.launch(crash)
    assert (crashed.error_type, crashed.signal) == ("signal", 11)
    assert set(client.scheduler_info()["workers"]) == workers
    assert launcher.launch(ok).succeeded
    assert not any(p.name.startswith("stop-") for p in Path(ok.step_dir).iterdir())


def test_the_same_job_twice_runs_twice(tmp_path, launcher):
    job = make_job(tmp_path, """
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            count = Path(output_paths["out"]) / "count.txt"
            count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
        """)
    assert launcher.launch(job).succeeded and launcher.launch(job).succeeded
    assert (Path(job.output_paths["out"]) / "count.txt").read_text() == "2"


def test_stop_reaches_a_step_running_on_a_worker(tmp_path, launcher):
    job = make_job(tmp_path, """
        import os, time
        from pathlib import Path

        def main(input_paths, output_paths, environ_vars, job_args):
            (Path(output_paths["out"]) / "started").write_text(str(os.getpid()))
            while True:
                time.sleep(0.02)
        """, timeout=60)
    started = Path(job.output_paths["out"]) / "started"
    results = []

    def stopper():
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        results.append(launcher.stop(job.step))

    thread = threading.Thread(target=stopper)
    thread.start()
    outcome = launcher.launch(job)
    thread.join()
    assert results == [True]
    assert (outcome.status, outcome.error_type) == ("interrupted", "interrupted")
    step_pid = int(started.read_text())
    deadline = time.monotonic() + 20  # the worker kills it on seeing the stop file, then removes the file
    while time.monotonic() < deadline and (_alive(step_pid) or any(
            p.name.startswith("stop-") for p in Path(job.step_dir).iterdir())):
        time.sleep(0.05)
    assert not _alive(step_pid)
    assert not any(p.name.startswith("stop-") for p in Path(job.step_dir).iterdir())


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
