"""Metrics and the original plan's report, built from events and from records."""

from __future__ import annotations

from pipetest_nb.events import Event, EventKind
from pipetest_nb.records.monitor import PipelineMonitor, critical_path
from pipetest_nb.records.record import RunRecord


def events():
    plan = {"dependencies": {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}}
    yield Event(EventKind.RUN_STARTED, "r1", 0, 0.0, data={"pipeline": {"name": "p"}, "plan": plan,
                                                            "steps": ["a", "b", "c", "d"]})
    for i, (step, duration, status) in enumerate([("a", 1.0, "succeeded"), ("b", 5.0, "succeeded"),
                                                   ("c", 2.0, "cached"), ("d", 1.0, "failed")]):
        yield Event(EventKind.STEP_STARTED, "r1", 2 * i + 1, 1.0, step)
        yield Event(EventKind.STEP_FINISHED, "r1", 2 * i + 2, 2.0, step,
                    {"status": status, "metrics": {"duration": duration, "peak_rss": (i + 1) * 2**20,
                                                   "input_size": 100, "output_size": 50 * (i + 1),
                                                   "cpu_time": duration / 2}})
    yield Event(EventKind.RUN_FINISHED, "r1", 9, 3.0, data={"duration": 9.0, "status": "failed"})


def test_report_from_events_and_from_record_agree():
    monitor = PipelineMonitor()
    record = RunRecord.empty()
    for event in events():
        monitor(event)
        record.apply(event)
    live = monitor.generate_report("r1")
    again_monitor, run_id = PipelineMonitor.from_record(record)
    again = again_monitor.generate_report(run_id)
    for report in (live, again):
        assert report["pipeline_name"] == "p"
        assert report["execution_summary"]["steps_completed"] == 3
        assert report["execution_summary"]["steps_failed"] == 1
        assert report["execution_summary"]["success_rate"] == 0.75
        assert report["step_details"]["b"]["data_processed"] == {"input_size": 100, "output_size": 100}
        insights = report["performance_insights"]
        assert insights["slowest_step"] == {"step": "b", "duration": 5.0, "script": 5.0, "check_time": None}
        assert insights["most_memory"]["step"] == "d"
        assert insights["critical_path"] == {"steps": ["a", "b", "d"], "duration": 7.0}
        assert insights["data_growth"]["d"]["ratio"] == 2.0
    assert live["execution_summary"]["total_duration"] == 9.0


def test_unknown_pipeline():
    assert PipelineMonitor().generate_report("nope") == {"error": "Pipeline not found"}


def test_critical_path_of_nothing():
    assert critical_path({}, {}) == {"steps": [], "duration": 0.0}
