"""The catalogue of expectation types against the Great Expectations installed: the file it reads
without GX is what GX's registry says, and its verdicts are GX's own on good and bad expectations."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipetest_nb.validation.expectations import catalogue
from pipetest_nb.validation.expectations.gx import GX

DEMO_SUITES = Path(catalogue.__file__).parents[2] / "demo" / "expectations"


@pytest.fixture(scope="module")
def gx():
    return GX.get()


def test_the_file_is_what_the_installed_gx_registers(gx):
    written = catalogue.DATA_FILE.read_text(encoding="utf-8")
    now = catalogue.render(catalogue.from_registry())
    assert written == now, (f"{catalogue.DATA_FILE.name} was written from great_expectations "
                            f"{json.loads(written)['great_expectations']}; the installed one registers other "
                            f"expectation types or arguments: regenerate it with `{catalogue.REGENERATE}`")
    assert len(catalogue.known_types()) >= 50 and "expect_column_values_to_be_between" in catalogue.known_types()


def test_every_types_required_and_unknown_kwargs_are_the_ones_gx_names(gx):
    """For every registered type, GX's own build (pydantic's errors) names as missing exactly the
    catalogue's required kwargs, and refuses exactly the kwargs the catalogue does not list."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for kind in catalogue.known_types():
        accepted = catalogue.arguments(kind)
        kwargs = {"not_an_argument": 1, **{name: None for name in accepted.optional + accepted.common}}
        try:
            ExpectationConfiguration(type=kind, kwargs=kwargs).to_domain_obj()
            errors = []
        except Exception as exc:
            errors = exc.errors() if hasattr(exc, "errors") else pytest.fail(f"{kind}: {exc!r}")
        missing = {e["loc"][0] for e in errors if e["type"] == "value_error.missing"}
        extra = {e["loc"][0] for e in errors if e["type"] == "value_error.extra"}
        assert missing == set(accepted.required), kind
        assert extra == {"not_an_argument"}, kind
        message = catalogue.problem({"type": kind, "kwargs": kwargs})
        assert "'not_an_argument' is not one of its arguments" in message, kind
        assert all(f"required argument '{name}' is missing" in message for name in accepted.required), kind


def _demo_expectations() -> list[dict]:
    return [e for path in sorted(DEMO_SUITES.glob("*.json")) for e in json.loads(path.read_text())["expectations"]]


BETWEEN = "expect_column_values_to_be_between"
GOOD = [
    {"type": "expect_column_to_exist", "kwargs": {"column": "a", "column_index": 0}},
    {"type": BETWEEN, "kwargs": {"column": "a", "min_value": 0, "mostly": 0.9, "strict_min": True,
                                 "row_condition": 'b > 1', "condition_parser": "pandas",
                                 "result_format": "SUMMARY", "catch_exceptions": False}},
    {"type": BETWEEN, "kwargs": {"column": "a", "max_value": 1, "meta": {"k": 1}, "notes": "n"}, "meta": {"x": 1},
     "notes": ["a", "b"], "description": "d", "severity": "warning", "id": None, "rendered_content": None},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"],
                                                                "ignore_row_if": "any_value_is_missing"}},
    {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "a", "type_": "int64"}},
    {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["a"], "exact_match": False}},
]
BAD = [  # (expectation, what both GX and the catalogue must name)
    ({"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "a"}}, "expect_column_values_to_be_betwen"),
    ({"type": BETWEEN, "kwargs": {"colum": "a", "min_value": 0}}, "colum"),
    ({"type": BETWEEN, "kwargs": {"min_value": 0}}, "column"),
    ({"type": BETWEEN, "kwargs": {"column": "a", "min_value": 0, "strict": True}}, "strict"),
    ({"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "a", "type": "int"}}, "type"),
    ({"type": "expect_table_row_count_to_equal", "kwargs": {}}, "value"),
    ({"type": "expect_compound_columns_to_be_unique", "kwargs": {"columns": ["a"]}}, "columns"),
    ({"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "expectation_type": "x"}, "expectation_type"),
    ({"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "mostly": 0.5}, "mostly"),
    ({"expectation_type": "expect_column_to_exist", "kwargs": {"column": "a"}}, "type"),
    ({"type": "expect_column_to_exist"}, "kwargs"),
    ({"type": 3, "kwargs": {}}, "type"),
    ("expect_column_to_exist", "JSON object"),
]


@pytest.mark.filterwarnings("ignore:.*deprecated as of GX Core:DeprecationWarning")  # string row_condition
@pytest.mark.parametrize("expectation", _demo_expectations() + GOOD)
def test_good_expectations_pass_both(gx, expectation):
    assert GX.build_problem(expectation) is None
    assert catalogue.problem(expectation) is None


@pytest.mark.parametrize("expectation, name", BAD)
def test_bad_expectations_fail_both_and_both_name_the_key(gx, expectation, name):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    why = catalogue.problem(expectation)
    assert why is not None and name in why, why
    if isinstance(expectation, dict) and isinstance(expectation.get("type"), str) and "kwargs" in expectation:
        with pytest.raises(Exception, match=name):  # GX's own words, before pipetest_nb's shortening
            ExpectationConfiguration(**expectation).to_domain_obj()
    else:
        assert GX.build_problem(expectation) is not None or not isinstance(expectation, dict)


def test_a_value_only_gx_refuses_is_left_to_the_edge_check(gx):
    """The catalogue checks names; GX's validators on values (both bounds None) speak at the edge check."""
    expectation = {"type": BETWEEN, "kwargs": {"column": "a"}}
    assert catalogue.problem(expectation) is None
    assert "min_value and max_value cannot both be None" in GX.build_problem(expectation)


def test_a_type_registered_in_the_process_counts_once_gx_is_imported(gx):
    """With GX imported, the live registry is read: an expectation class defined in a notebook is known."""
    code = textwrap.dedent("""
        from pipetest_nb.validation.expectations import catalogue
        assert catalogue.problem({"type": "expect_column_values_to_be_pipetest_even", "kwargs": {"column": "a"}})
        import great_expectations as gx
        from great_expectations.expectations.expectation import ColumnMapExpectation

        class ExpectColumnValuesToBePipetestEven(ColumnMapExpectation):
            map_metric = "column_values.pipetest_even"
            threshold: int = 2

        exp = {"type": "expect_column_values_to_be_pipetest_even", "kwargs": {"column": "a", "threshold": 4}}
        assert catalogue.problem(exp) is None, catalogue.problem(exp)
        assert "threshold" in catalogue.argument_names(exp["type"])
        bad = catalogue.problem({"type": exp["type"], "kwargs": {"column": "a", "treshold": 4}})
        assert "'treshold' is not one of its arguments (did you mean 'threshold'?)" in bad, bad
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_generator_checks_and_writes(tmp_path, monkeypatch, capsys, gx):
    assert catalogue.main([]) == 0 and "matches" in capsys.readouterr().out
    copy = tmp_path / catalogue.DATA_FILE.name
    copy.write_text(catalogue.DATA_FILE.read_text().replace('"value_set"', '"values"', 1))
    monkeypatch.setattr(catalogue, "DATA_FILE", copy)  # fault injection: a file from another GX
    assert catalogue.main([]) == 1 and catalogue.REGENERATE in capsys.readouterr().err
    assert catalogue.main(["--write"]) == 0
    assert copy.read_text() == catalogue.render(catalogue.from_registry())


def _validate_without_gx(pipeline: Path) -> subprocess.CompletedProcess:
    """``pipetest validate`` in a fresh process, asserting from ``-X importtime`` that GX was never imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipetest_nb.views.cli", "validate",
                           str(pipeline)], capture_output=True, text=True, timeout=120)
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "pipetest_nb.validation.expectations.suites" in imported, "the suites were not checked"
    assert not [m for m in imported if m.split(".")[0] == "great_expectations"], "pipetest validate imported GX"
    done.stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return done


def test_pipetest_validate_reads_suites_without_importing_gx(tmp_path):
    from pipetest_nb.demo import copy_demo

    copy_demo(tmp_path)
    done = _validate_without_gx(tmp_path / "pipeline.yaml")
    assert done.returncode == 0 and "OK: pipeline" in done.stdout, done.stderr
    suite = tmp_path / "expectations" / "imputed_table.json"
    data = json.loads(suite.read_text())
    data["expectations"][1]["type"] = "expect_column_to_exst"
    data["expectations"][2]["kwargs"] = {"colum": "age"}
    suite.write_text(json.dumps(data, indent=2))
    done = _validate_without_gx(tmp_path / "pipeline.yaml")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (f"{suite}:14:7: key 'expectations[1]': unknown expectation type 'expect_column_to_exst' "
            "(did you mean 'expect_column_to_exist'?)") in done.stderr, done.stderr
    assert (f"{suite}:22:7: key 'expectations[2]': expectation expect_column_to_exist is not valid: required "
            "argument 'column' is missing; 'colum' is not one of its arguments (did you mean 'column'?)") in done.stderr
