"""The likely culprit of a failure: a step upstream whose output did not pass its edge checks.

A step that fails often only reports the damage: ``risk_table_mapping`` raises ``KeyError: 'region'``
because ``missing_value_imputation`` dropped the column, and the edge check between them warned.
``find_suspects(record, step)`` reads a run record (nothing else: it works on a recorded run as on a
live one) and names the producers of the warned or failed edges into the failed step or any step
upstream of it, nearest first, and those whose findings name what the error names before the rest.
``cause_message`` says it in one sentence, for the CLI, the report and the notebook alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

BAD_EDGE_STATES = ("warned", "failed")
MAX_SUSPECTS = 5
MAX_COLUMNS = 5


@dataclass(frozen=True)
class Suspect:
    """A producer whose output into the failed step's ancestry did not pass its checks."""

    step: str
    edge: tuple[str, str]  # ("producer.output", "consumer.input")
    state: str  # "warned" or "failed"
    distance: int  # 0: the edge feeds the failed step itself
    lost_columns: list[str] = field(default_factory=list)  # its inputs had them, its output does not
    failed_columns: list[str] = field(default_factory=list)  # columns named by failed expectations
    issues: list[str] = field(default_factory=list)  # compatibility findings, when no column is named
    named_in_error: bool = False  # the failed step's error names one of those columns

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "edge": list(self.edge), "state": self.state, "distance": self.distance,
                "lost_columns": list(self.lost_columns), "failed_columns": list(self.failed_columns),
                "issues": list(self.issues), "named_in_error": self.named_in_error}

    def finding(self) -> str:
        """What is wrong with its output, in a few words."""
        output = f"{self.step}'s output"
        if self.lost_columns:
            return f"{output} lost {_columns(self.lost_columns)}"
        if self.failed_columns:
            return f"{output} failed its checks on {_columns(self.failed_columns)}"
        if self.issues:
            return f"{output} {self.issues[0]}"
        return f"{output} did not pass its checks"


def find_suspects(record: dict[str, Any], step: str | None = None) -> list[Suspect]:
    """The suspects of the failure of ``step`` (default: the run's root failure), best first."""
    step = step or (record.get("root_failure") or {}).get("step")
    if not step:
        return []
    distance = _ancestors(record, step)
    error = _error_text((record.get("steps") or {}).get(step) or {})
    found = []
    for key, edge in (record.get("edges") or {}).items():
        if not isinstance(edge, dict) or edge.get("state") not in BAD_EDGE_STATES:
            continue
        source, target = _ends(key, edge)
        consumer = target.split(".", 1)[0]
        if consumer not in distance:
            continue
        lost, failed = _lost_columns(record, source, edge), _failed_columns(edge)
        named = any(_names(error, c) for c in (*lost, *failed))
        found.append(Suspect(step=source.split(".", 1)[0], edge=(source, target), state=edge["state"],
                             distance=distance[consumer], lost_columns=lost, failed_columns=failed,
                             issues=_issues(edge), named_in_error=named))
    found.sort(key=lambda s: (not s.named_in_error, s.distance, s.state != "failed", s.step))
    return found[:MAX_SUSPECTS]


def cause_message(record: dict[str, Any], suspects: list[Suspect], step: str | None = None) -> str | None:
    """One sentence: what the best suspect's output lost, on which edge, and what the failure is."""
    if not suspects:
        return None
    step = step or (record.get("root_failure") or {}).get("step") or ""
    best = suspects[0]
    others = sorted({s.step for s in suspects[1:]} - {best.step})
    text = (f"{best.finding()} ({best.state} on edge {best.edge[0]} → {best.edge[1]}); "
            f"the failure in {step} is {describe_error((record.get('steps') or {}).get(step) or {})}")
    if others:
        text += f"; also suspect: {', '.join(others)}"
    return text


def describe_error(entry: dict[str, Any]) -> str:
    """``a KeyError on 'region'``, ``a ValueError: bad value``... from a step's record entry."""
    kind = entry.get("exception_type") or entry.get("error_type") or "error"
    message = str(entry.get("error_message") or "")
    message = re.sub(r" \([^()]*line \d+[^()]*\)$", "", message)  # "(script.py, line 19, in fit)"
    if message.startswith(f"{kind}: "):
        message = message[len(kind) + 2:]
    if kind == "KeyError" and message:
        return f"a KeyError on {message}"
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind}" + (f": {message}" if message else "")


def _columns(names: list[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"column {quoted}" if len(names) == 1 else f"columns {quoted}"


def _ancestors(record: dict[str, Any], step: str) -> dict[str, int]:
    """``step`` and every step upstream of it, with how many steps away each is."""
    deps = (record.get("plan") or {}).get("dependencies") or {}
    distance, frontier = {step: 0}, [step]
    while frontier:
        nxt = []
        for current in frontier:
            for up in deps.get(current) or []:
                if up not in distance:
                    distance[up] = distance[current] + 1
                    nxt.append(up)
        frontier = nxt
    return distance


def _ends(key: str, edge: dict[str, Any]) -> tuple[str, str]:
    source, _, target = key.partition("->")
    return str(edge.get("source") or source), str(edge.get("target") or target)


def _error_text(entry: dict[str, Any]) -> str:
    return f"{entry.get('error_message') or ''}\n{entry.get('traceback') or ''}"


def _names(text: str, column: str) -> bool:
    return f"'{column}'" in text or f'"{column}"' in text


def _failed_columns(edge: dict[str, Any]) -> list[str]:
    columns: list[str] = []
    for check in edge.get("expectations") or []:
        for failure in check.get("failures") or []:
            column = failure.get("column")
            if column and str(column) not in columns:
                columns.append(str(column))
    return columns[:MAX_COLUMNS]


def _lost_columns(record: dict[str, Any], source: str, edge: dict[str, Any]) -> list[str]:
    """Columns every input table of the producer had and none of this output's tables has."""
    producer = source.split(".", 1)[0]
    missing = {str(f["column"]) for c in edge.get("expectations") or [] for f in c.get("failures") or []
               if f.get("type") == "expect_column_to_exist" and f.get("column")}
    out_columns = _table_columns(edge)
    if out_columns is not None:
        ins = [_table_columns(e) for k, e in (record.get("edges") or {}).items()
               if isinstance(e, dict) and _ends(k, e)[1].split(".", 1)[0] == producer]
        had = [c for c in ins if c is not None]
        if had:
            common = set.intersection(*had)
            missing |= common - out_columns
    return sorted(missing)[:MAX_COLUMNS]


def _table_columns(edge: dict[str, Any]) -> set[str] | None:
    """The columns of every table the edge's data held (from its compatibility summary), or None."""
    tables = (((edge.get("compatibility") or {}).get("data_summary") or {}).get("tables")) or {}
    sets = [set(t.get("columns") or []) for t in tables.values() if isinstance(t, dict) and t.get("columns")]
    return set.union(*sets) if sets else None


def _issues(edge: dict[str, Any]) -> list[str]:
    compat = edge.get("compatibility") or {}
    return [str(m) for m in (compat.get("issues") or []) + (compat.get("warnings") or [])][:3]


def explain_failure(record: dict[str, Any], step: str) -> dict[str, Any]:
    """What the record's ``root_failure`` adds about ``step``: its suspects and the sentence naming the best."""
    suspects = find_suspects(record, step)
    return {"suspects": [s.to_dict() for s in suspects], "cause": cause_message(record, suspects, step)}
