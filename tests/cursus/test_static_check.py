"""The static check of Cursus scripts: no false alarm on the real scripts, one test per class of false positive."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

from pipetest_nb.cursus import CursusIntegrationLayer, scan_script
from pipetest_nb.cursus.checks import ContractValidationResult, script_findings
from pipetest_nb.cursus.contracts import read_step_interface

REAL = Path(__file__).parents[1] / "fixtures" / "cursus_real"


def real_findings(interface: str, script: str) -> list:
    """The script findings of one real script against its real interface, with no configuration values."""
    path = REAL / "scripts" / script
    config = SimpleNamespace(script=path, env={}, args={})
    return script_findings(interface, read_step_interface(REAL / "interfaces" / f"{interface}.step.yaml"), config,
                           scan_script(path))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def project(folder: Path, script: str, contract: str) -> tuple[Path, Path, Path]:
    """A one-step Cursus project: DAG, configuration, contract and script."""
    (folder / "scripts").mkdir()
    (folder / "contracts").mkdir()
    write(folder / "scripts", "s.py", script)
    write(folder / "contracts", "s.step.yaml", contract)
    config = {"configuration": {"shared": {"processing_source_dir": "scripts"},
                                "specific": {"S": {"processing_entry_point": "s.py"}}}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "dag.json").write_text(json.dumps({"nodes": ["S"], "edges": []}))
    return folder / "dag.json", folder / "config.json", folder / "contracts"


def pipetest(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


# -- writes are not reads -------------------------------------------------------------------------


def test_an_environ_write_is_not_a_read(tmp_path):
    # xgboost_training.py sets os.environ["AWS_STS_REGIONAL_ENDPOINTS"] before calling boto3 (line 35)
    uses = {u.name for u in scan_script(REAL / "scripts" / "xgboost_training.py").uses}
    assert "AWS_STS_REGIONAL_ENDPOINTS" not in uses
    assert not [f for f in real_findings("xgboost_training", "xgboost_training.py")
                if f.name == "AWS_STS_REGIONAL_ENDPOINTS"]
    script = write(tmp_path, "s.py", """
        import os

        def main(input_paths, output_paths, environ_vars, job_args):
            os.environ["SET_HERE"] = "1"
            del os.environ["DROPPED"]
            os.putenv("PUT", "1")
            environ_vars["FILLED"] = "x"
            os.environ.setdefault("DEFAULTED", "on")  # read when set, else written: a read with a default
            return os.environ["READ"]
    """)
    usage = scan_script(script)
    assert {(u.kind, u.name, u.direct, u.default) for u in usage.uses} == {
        ("env", "READ", True, None), ("env", "DEFAULTED", False, "on")}
    assert usage.opaque == set()


# -- module-level reads count ---------------------------------------------------------------------


def test_module_level_environ_reads_count(tmp_path):
    # graph_subgraph_extraction.py reads its tuning knobs at import time (lines 80-83)
    usage = scan_script(REAL / "scripts" / "graph_subgraph_extraction.py")
    lines = {u.name: u.line for u in usage.uses if u.via_os}
    assert {lines[n] for n in ("MAX_WORKERS", "SESSION_POOL_MIN_SIZE", "SESSION_POOL_MAX_SIZE",
                               "NEBULA_TIMEOUT_MS")} == {80, 81, 82, 83}
    # lightgbm_model_eval.py: USE_SECURE_PYPI at module level, default 'true' (then a private package index)
    (secure,) = [f for f in real_findings("lightgbm_model_eval", "lightgbm_model_eval.py")
                 if f.name == "USE_SECURE_PYPI"]
    assert secure.severity == "warning" and secure.line == 12
    assert "from os.environ (default 'true')" in secure.message and "env: {USE_SECURE_PYPI: ...}" in secure.hint
    dag, config, contracts = project(tmp_path, """
        import os

        BATCH = int(os.environ.get("BATCH_SIZE", "8"))

        def main(input_paths, output_paths, environ_vars, job_args):
            return BATCH

        if __name__ == "__main__":
            main({}, {}, {"MAIN_ONLY": os.environ["MAIN_ONLY"]}, None)
    """, "contract:\n  env_vars:\n    optional: {BATCH_SIZE: '8'}\n")
    result = CursusIntegrationLayer(dag, config, contracts).check()
    assert result.findings == []  # neither "BATCH_SIZE is never used" nor MAIN_ONLY (the block does not run)


# -- guarded reads are warnings -------------------------------------------------------------------


def test_a_guarded_read_is_a_warning_that_does_not_block_the_run(tmp_path):
    # bedrock_batch_processing.py: `if "validation_schema" in input_paths: input_paths["validation_schema"]`
    for interface in ("bedrock_batch_processing", "bedrock_processing"):
        (finding,) = [f for f in real_findings(interface, f"{interface}.py") if f.name == "validation_schema"]
        assert finding.severity == "warning" and finding.kind == "undeclared_input"
    dag, config, contracts = project(tmp_path, """
        def main(input_paths, output_paths, environ_vars, job_args):
            if "EXTRA" in input_paths:
                print(input_paths["EXTRA"])
            if environ_vars.get("MODE"):
                print(environ_vars["MODE"])
            if "SKIP" not in environ_vars:
                pass
            else:
                print(environ_vars["SKIP"])
            return input_paths["DATA"] if "DATA" in input_paths else None
    """, "contract:\n  inputs: {}\n")
    result = CursusIntegrationLayer(dag, config, contracts).check()
    assert result.ok and {(f.severity, f.name) for f in result.findings} == {
        ("warning", "EXTRA"), ("warning", "MODE"), ("warning", "SKIP"), ("warning", "DATA")}
    done = pipetest("cursus", "check", dag, config, "--contracts", contracts)
    assert done.returncode == 0 and "0 errors, 4 warnings" in done.stdout


def test_a_variable_the_interface_computes_is_declared():
    # bedrock_batch_processing.step.yaml: computed_env_paths (S3 paths the builder joins at build time)
    names = {f.name for f in real_findings("bedrock_batch_processing", "bedrock_batch_processing.py")}
    assert not names & {"BEDROCK_BATCH_INPUT_S3_PATH", "BEDROCK_BATCH_OUTPUT_S3_PATH"}


def test_an_unguarded_read_of_an_undeclared_name_is_still_an_error(tmp_path):
    # payload.py raises when "output_dir" is missing, then indexes it: the contract names the output payload_sample
    (finding,) = [f for f in real_findings("payload", "payload.py") if f.name == "output_dir"]
    assert finding.severity == "error" and "it fails when the name is missing" in finding.message
    assert finding.hint == "declare it in payload.step.yaml, or use the contract's name: payload_sample"
    script = write(tmp_path, "s.py", """
        def main(input_paths, output_paths, environ_vars, job_args):
            if "A" in input_paths:
                pass
            print(input_paths["A"])
            if "B" in input_paths:
                pass
            else:
                print(input_paths["B"])
    """)
    assert {(u.name, u.direct) for u in scan_script(script).uses if u.direct} == {("A", True), ("B", True)}


# -- main's signature -----------------------------------------------------------------------------


def test_a_main_that_cannot_take_the_four_arguments_is_an_error():
    # the GraphStorm scripts run as programs: main() parses sys.argv
    for interface, script, line in [("graph_feature_processing", "graph_feature_processing.py", 59),
                                    ("graph_construction", "run_gconstruct.py", 77),
                                    ("graphstorm_gnn_training", "graphstorm_gnn_training.py", 29)]:
        findings = real_findings(interface, script)
        (bad,) = [f for f in findings if f.kind == "bad_main"]
        assert bad.severity == "error" and bad.line == line and bad.message.startswith("main() cannot take")
        assert not [f for f in findings if f.kind.startswith("unused_")]  # what main would read is unknowable
        assert not ContractValidationResult(findings).ok
    assert not [f for f in real_findings("tabular_preprocessing", "tabular_preprocessing.py") if f.kind == "bad_main"]


def test_main_signatures(tmp_path):
    cases = {
        "def main(a, b):": "cannot take the four arguments",
        "async def main(input_paths, output_paths, environ_vars, job_args):": "async def",
        "def main(input_paths, output_paths, environ_vars, job_args, extra):": "also requires extra",
        "def main(input_paths, output_paths, environ_vars, job_args, *, mode):": "also requires mode",
        "def main(*args):": None,
        "def main(input_paths, output_paths, *rest):": None,
        "def main(input_paths, output_paths, environ_vars, job_args, logger=None):": None,
        "def main(input_paths, output_paths, environ_vars, job_args, *, logger):": None,
        "def main(input_paths, output_paths, environ_vars, job_args, retries=3, **options):": None,
    }
    for header, problem in cases.items():
        usage = scan_script(write(tmp_path, "s.py", f"{header}\n    pass\n"))
        assert usage.has_main and usage.main_line == 1
        assert (usage.main_problem is None) if problem is None else (problem in usage.main_problem), header


def test_cursus_run_stops_on_a_bad_main_before_running(tmp_path):
    dag, config, contracts = project(tmp_path, "def main():\n    pass\n", "contract:\n  inputs: {}\n")
    done = pipetest("cursus", "run", dag, config, "--contracts", contracts, "--workspace", tmp_path / "ws")
    assert done.returncode == 1 and "not running" in done.stderr
    assert "s.py:1: step 'S': main() cannot take the four arguments" in done.stdout
    assert not (tmp_path / "ws").exists()


# -- precision over every real script -------------------------------------------------------------


def test_no_error_on_the_real_scripts_but_the_true_ones():
    """Every error over all script/interface pairs of the real material, each judged by reading the script."""
    errors = set()
    for interface in sorted((REAL / "interfaces").glob("*.step.yaml")):
        contract = read_step_interface(interface)
        if contract.entry_point and (REAL / "scripts" / contract.entry_point).is_file():
            name = interface.name.removesuffix(".step.yaml")
            errors |= {(f.kind, Path(f.file).name, f.name) for f in real_findings(name, contract.entry_point)
                       if f.severity == "error"}
    assert errors == {
        ("bad_main", "run_gconstruct.py", "main"), ("bad_main", "graph_feature_processing.py", "main"),
        ("bad_main", "graph_subgraph_extraction.py", "main"), ("bad_main", "graphstorm_gnn_inference_eval.py", "main"),
        ("bad_main", "graphstorm_gnn_training.py", "main"),
        ("no_main", "redshift_data_loading.py", "main"),  # it runs its work at import, without main()
        ("undeclared_output", "payload.py", "output_dir"),  # payload.step.yaml names it payload_sample
    }


# -- cursus match lists every problem -------------------------------------------------------------


def test_match_goes_on_past_a_step_it_cannot_read(tmp_path):
    dag, config, contracts = project(tmp_path, "def main(input_paths, output_paths, environ_vars, job_args):\n"
                                               "    return input_paths['DATA']\n",
                                     "contract:\n  inputs:\n    DATA: {path: /in, required: true}\n")
    data = json.loads(config.read_text())
    data["configuration"]["specific"].update({"Broken": {"processing_entry_point": "gone.py"},
                                              "AlsoBroken": {"processing_entry_point": "lost.py"},
                                              "Consumer": {"processing_entry_point": "s.py"}})
    config.write_text(json.dumps(data))
    dag.write_text(json.dumps({"nodes": ["S", "Broken", "AlsoBroken", "Consumer"],
                               "edges": [["Broken", "Consumer"]]}))
    done = pipetest("cursus", "match", dag, config, "--contracts", contracts)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no contract for script 'gone.py'" in done.stdout and "no contract for script 'lost.py'" in done.stdout
    assert "step 'Consumer': its inputs cannot be matched while 'Broken' cannot be read" in done.stdout
    assert "1 inputs, 1 to resolve; 3 steps could not be matched (errors above)" in done.stdout
    done = pipetest("cursus", "match", dag, config, "--contracts", contracts, "--json")
    rows = json.loads(done.stdout)
    assert done.returncode == 1
    assert [(r["step"], r["kind"]) for r in rows] == [("S", "unbound"), ("Broken", "spec"), ("AlsoBroken", "spec"),
                                                     ("Consumer", "spec")]
    assert rows[0]["problem"].startswith("required input 'DATA' is not bound") and "--input S.DATA=" in rows[0]["hint"]
    assert all(r["problem"] for r in rows)


def test_a_missing_script_says_where_relative_paths_start(tmp_path):
    dag, config, contracts = project(tmp_path, "def main(a, b, c, d):\n    pass\n", "contract:\n  inputs: {}\n")
    (tmp_path / "scripts" / "s.py").rename(tmp_path / "scripts" / "t.py")
    done = pipetest("cursus", "check", dag, config, "--contracts", contracts)
    assert done.returncode == 1
    assert f"step 'S': script file not found: {tmp_path / 'scripts' / 's.py'}" in done.stdout
    assert f"(did you mean 't.py'?; relative script paths in the configuration start at --source-root (here " \
           f"{tmp_path}; by default the configuration's folder)" in done.stdout
    assert "pipeline file" not in done.stdout
