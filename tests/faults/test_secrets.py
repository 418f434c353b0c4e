"""Secrets that stay secret: planted everywhere a step can get or repeat them, found nowhere we write.

The step gets every real value; the workspace (record, events, logs, cache), the reports (HTML and
JSON, also after the pipeline file is gone), the live output, the widgets and the cells that
``%pipetest load_step`` writes hold none of them, except the files the step itself wrote into its
own outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipetest_nb import PipelineDAG, Session, write_html_report
from pipetest_nb.events import EventKind
from pipetest_nb.records import masking
from pipetest_nb.records.cache import cache_key
from pipetest_nb.records.workspace import new_run_id
from pipetest_nb.views.cli import main as cli_main
from pipetest_nb.views.notebook import panels
from pipetest_nb.views.notebook.magics import step_code

MASK = masking.MASK

PIPE_TOKEN = "pipe-tok-9f3Kq2wX"  # the step's env, secret by name
DEFAULT_PASSWORD = "dflt-pw-77ZxQe"  # the pipeline's defaults.env, secret by name
RUNNER_SECRET = "runner-Zk81wQ-aws-Secret"  # the environment of the process running pipetest
ARG_KEY = "arg-key-4Hq9Lm"  # an arg, secret by name
URL_PASSWORD = "Url-Pw-5521xR"  # under a harmless name, secret by shape
CONN = f"postgres://admin:{URL_PASSWORD}@db.internal:5432/prod"
FILE_PASSWORD = "FilePw-83kQzT"  # in a file the step prints
FILE_TOKEN = "Xk9mQ2vL8pR4tN7wZ3bY6cJ1dF5g"  # a random string in that file
PRIVATE_KEY = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
               "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----")
EVERY_SECRET = [PIPE_TOKEN, DEFAULT_PASSWORD, RUNNER_SECRET, ARG_KEY, URL_PASSWORD, CONN, FILE_PASSWORD, FILE_TOKEN,
                PRIVATE_KEY, PRIVATE_KEY.splitlines()[1]]

LEAK = '''\
import os, sys, time
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    values = [environ_vars["API_TOKEN"], os.environ["DB_PASSWORD"], os.environ["AWS_SECRET_ACCESS_KEY"],
              job_args.api_key, environ_vars["CONN"]]
    (Path(output_paths["out"]) / "leak.txt").write_text("\\n".join(values))  # its own output: allowed
    for value in values:
        print("stdout has", value)
        print("stderr has", value, file=sys.stderr)
    half = len(values[0]) // 2  # one secret in two writes that reach the log separately
    sys.stdout.write("split " + values[0][:half])
    sys.stdout.flush()
    time.sleep(0.05)
    sys.stdout.write(values[0][half:] + " done\\n")
    print("config file:\\n" + Path("creds.txt").read_text())
    print(f"connecting with Authorization: Bearer {values[0]}")
'''

BOOM = '''\
import os, sys

def main(input_paths, output_paths, environ_vars, job_args):
    print("about to fail with", os.environ["AWS_SECRET_ACCESS_KEY"], file=sys.stderr)
    raise RuntimeError(f"login failed with {environ_vars['API_TOKEN']} / {os.environ['AWS_SECRET_ACCESS_KEY']} "
                       f"/ {environ_vars['CONN']} / {job_args.api_key}")
'''


def _pipeline(root: Path) -> Path:
    folder = root / "pipeline"
    folder.mkdir(parents=True)
    (folder / "leak.py").write_text(LEAK)
    (folder / "boom.py").write_text(BOOM)
    (folder / "creds.txt").write_text(f"user: bob\npassword: {FILE_PASSWORD}\ntoken {FILE_TOKEN}\n{PRIVATE_KEY}\n")
    env = {"API_TOKEN": PIPE_TOKEN, "CONN": CONN}
    spec = {"name": "secrets", "defaults": {"env": {"DB_PASSWORD": DEFAULT_PASSWORD}},
            "steps": {"leak": {"script": "leak.py", "env": env, "args": {"api_key": ARG_KEY, "rows": 3},
                               "outputs": {"out": {}}},
                      "boom": {"script": "boom.py", "env": env, "args": {"api_key": ARG_KEY},
                               "depends_on": ["leak"]}}}
    (folder / "pipeline.yaml").write_text(json.dumps(spec))  # JSON is YAML
    return folder / "pipeline.yaml"


def _hits(root: Path, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every (file, secret) where a planted secret appears under ``root``, except in allowed folders."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if any(part in rel for part in allowed):
            continue
        data = path.read_bytes()
        found += [f"{rel}: {secret[:12]}..." for secret in EVERY_SECRET if secret.encode() in data]
    return found


@pytest.mark.parametrize("isolation", ["subprocess", "inprocess"])
def test_planted_secrets_appear_nowhere_but_in_the_steps_own_outputs(tmp_path, monkeypatch, isolation):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", RUNNER_SECRET)
    pipeline = _pipeline(tmp_path)
    workspace, reports = tmp_path / "ws", tmp_path / "reports"
    live: list[str] = []
    with Session(PipelineDAG.load(pipeline), workspace, isolation=isolation, progress=False) as session:
        session.events.subscribe(lambda e: live.append(json.dumps(e.data)) if e.kind == EventKind.STEP_OUTPUT
                                 else None)
        result = session.run_all()
        run_dir = session.run_dir
        write_html_report(session, reports / "session.html")
        widgets = [panels.config_step_html(s, session.record["steps"][s], session.plan.step_configs[s])
                   for s in ("leak", "boom")]
        cell = step_code(session, "leak")

    assert result.steps["leak"].status == "succeeded"  # the step got every real value ...
    written = (session.outputs("leak")["out"] / "leak.txt").read_text().splitlines()
    assert written == [PIPE_TOKEN, DEFAULT_PASSWORD, RUNNER_SECRET, ARG_KEY, CONN]

    assert cli_main(["report", str(run_dir), "-o", str(reports / "cli.html"), "--json", str(reports / "cli.json")]) == 0
    shutil.move(pipeline.parent, tmp_path / "moved")  # reports of a run whose pipeline file is gone
    assert cli_main(["report", str(run_dir), "-o", str(reports / "moved.html"),
                     "--json", str(reports / "moved.json")]) == 0
    own_outputs = ("steps/leak/outputs/", "/outputs/out/")  # the run's and the cache's copy of them
    assert _hits(workspace, own_outputs) == []
    assert _hits(reports) == []
    for text in [*live, *widgets, cell]:
        assert not [s for s in EVERY_SECRET if s in text]
    assert live and widgets

    record = json.loads((run_dir / "run.json").read_text())
    assert record["steps"]["leak"]["env"]["API_TOKEN"] == MASK
    assert record["steps"]["leak"]["env"]["DB_PASSWORD"] == MASK
    assert record["steps"]["leak"]["args"] == {"api_key": MASK, "rows": 3}
    boom = result.steps["boom"]
    assert boom.error_type == "execution_error" and f"login failed with {MASK}" in boom.error_message
    stdout = (run_dir / "steps" / "leak" / "stdout.log").read_text()
    assert f"split {MASK} done" in stdout and "user: bob" in stdout  # ... and the logs are still useful
    assert f"postgres://admin:{MASK}@db.internal:5432/prod" in stdout


def test_a_secret_split_across_writes_is_masked_in_the_log(tmp_path):
    secret = "s3cr3t-value-123"
    data = f"a {secret} b\nno newline {secret}".encode() + PRIVATE_KEY.encode() + b"\nafter\n"
    for size in (1, 3, 7, 64):
        scrubber = masking.LogScrubber([secret])
        out = b"".join(scrubber.feed(data[i:i + size]) for i in range(0, len(data), size)) + scrubber.flush()
        assert secret.encode() not in out and b"PRIVATE KEY" not in out and b"MIIEow" not in out, size
        assert out.startswith(f"a {MASK} b\nno newline {MASK}".encode()) and out.endswith(b"\nafter\n"), size


def test_an_unfinished_line_is_given_out_when_the_log_ends():
    scrubber = masking.LogScrubber(["s3cr3t-value-123"])
    assert scrubber.feed(b"line one\nprogress 10%") == b"line one\n"
    assert scrubber.flush() == b"progress 10%"


@pytest.mark.parametrize("text", [
    "postgres://user:hunter2pass@host/db", "key AKIAIOSFODNN7EXAMPLE", "Authorization: Bearer abc.def-123456",
    "headers {'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "password=hunter2", "{'api_key': 'zz99zz99'}",
    "token ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "random Xk9mQ2vL8pR4tN7wZ3bY6cJ1dF5g",
    "aws wJalrXUtnFEMI/K7MDENG/bPxRfiCY3XQmp9Lk2", PRIVATE_KEY])
def test_secrets_are_masked_by_their_shape(text):
    masked = masking.scrub(text)
    assert MASK in masked
    assert not any(part in masked for part in ("hunter2", "AKIAIOSF", "abc.def", "dXNlcjpw", "zz99", "ghp_a1",
                                               "Xk9mQ2", "wJalrX", "MIIEow"))


def test_digests_ids_paths_and_names_are_not_secrets(tmp_path):
    (tmp_path / "s.py").write_text("x = 1\n")
    keep = [cache_key(tmp_path / "s.py", {"step": "s", "env": {}}, {}), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            new_run_id("TrainModelPipelineV2"), "3f1a2b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b",
            str(tmp_path / "ws" / "runs" / new_run_id("p") / "steps" / "Train_Model2" / "outputs" / "ModelWeightsV2"),
            "TransformerEncoderLayer12Heads", "MyVeryLongClassNameForV2Model", "expect_column_values_to_be_between",
            "max_tokens=512 tokenizer=bert-base-uncased", "part-00000-3f1a2b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b-c000",
            "2026-12-01T20:14:35.123456+00:00", "sha256:" + "ab" * 32]
    for text in keep:
        assert masking.scrub(text) == text, text
    assert not masking.looks_random("ResNet50ImageNetPretrainedWeightsV2")
    assert masking.looks_random("Xk9mQ2vL8pR4tN7wZ3bY6cJ1dF5g")


def test_what_is_scrubbed_comes_from_env_args_and_the_runner():
    values = masking.step_secrets(
        {"API_TOKEN": "tok-12345", "DB_PASS": "pass-6789", "CONN": CONN, "LABEL": "target", "ROWS": 45},
        {"password": "pw-12345", "rows": 5, "nested": {"secret": "nested-999"}, "sort_key": "user_id",
         "credentials": {"user": "bob-the-user", "port": 5432}},
        {"GITHUB_TOKEN": "ghs-runner-1234", "PWD": "/tmp", "HOME": "/root", "SHORT_KEY": "abc"})
    assert set(values) == {"tok-12345", "pass-6789", URL_PASSWORD, "pw-12345", "nested-999", "bob-the-user",
                           "ghs-runner-1234"}
    assert masking.mask_args({"credentials": {"user": "bob", "port": 5432}, "max_tokens": 512, "key": "k-1"}) == {
        "credentials": {"user": MASK, "port": 5432}, "max_tokens": 512, "key": MASK}


def test_load_step_writes_values_only_as_literals(tmp_path, monkeypatch):
    evil = "x\nimport os; os.system('touch PWNED')\n#"
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "s.py").write_text("def main(*a):\n    pass\n")
    spec = {"name": evil, "description": evil,
            "steps": {"s": {"script": "s.py", "description": evil, "outputs": {"out": {}},
                            "env": {"NOTE": evil}, "args": {"note": evil}}}}
    (tmp_path / "p" / "pipeline.yaml").write_text(json.dumps(spec))
    workspace = tmp_path / "ws\nimport os; os.system('touch PWNED2')\n#"
    with Session(PipelineDAG.load(tmp_path / "p" / "pipeline.yaml"), workspace, progress=False) as session:
        code = step_code(session, "s")
    run_in = tmp_path / "cell"
    run_in.mkdir()
    monkeypatch.chdir(run_in)
    exec(compile(code, "<load_step>", "exec"), {})  # the user runs the cell
    assert sorted(p.name for p in run_in.iterdir()) == []
    assert not list(tmp_path.rglob("PWNED*"))


def test_load_step_reads_secret_args_and_shaped_env_when_the_cell_runs(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "s.py").write_text("def main(i, o, e, a):\n    print(e['CONN'], a.api_key)\n")
    spec = {"name": "p", "steps": {"s": {"script": "s.py", "env": {"CONN": CONN}, "args": {"api_key": ARG_KEY}}}}
    (tmp_path / "p" / "pipeline.yaml").write_text(json.dumps(spec))
    with Session(PipelineDAG.load(tmp_path / "p" / "pipeline.yaml"), tmp_path / "ws", progress=False) as session:
        code = step_code(session, "s")
    assert ARG_KEY not in code and URL_PASSWORD not in code
    namespace: dict = {}
    exec(compile(code, "<load_step>", "exec"), namespace)
    assert namespace["environ_vars"]["CONN"] == CONN and namespace["job_args"].api_key == ARG_KEY


def test_a_reopened_run_gets_secret_args_back_from_the_pipeline_file(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "ok.py").write_text("def main(*a):\n    pass\n")
    (tmp_path / "p" / "s.py").write_text("from pathlib import Path\ndef main(i, o, e, a):\n"
                                         "    (Path(o['out']) / 't').write_text(a.api_key + ' ' + e['CONN'])\n")
    spec = {"name": "p", "steps": {"first": {"script": "ok.py"},
                                   "s": {"script": "s.py", "env": {"CONN": CONN}, "args": {"api_key": ARG_KEY},
                                         "outputs": {"out": {}}, "depends_on": ["first"]}}}
    (tmp_path / "p" / "pipeline.yaml").write_text(json.dumps(spec))
    with Session(PipelineDAG.load(tmp_path / "p" / "pipeline.yaml"), tmp_path / "ws", progress=False) as session:
        session.step()
        run_dir = session.run_dir
    assert ARG_KEY not in (run_dir / "run.json").read_text() + (run_dir / "events.jsonl").read_text()
    with Session.open(run_dir, progress=False) as again:
        assert again.run_all().success
        assert (again.outputs("s")["out"] / "t").read_text() == f"{ARG_KEY} {CONN}"

