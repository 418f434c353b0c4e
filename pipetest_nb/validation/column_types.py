"""Column types by family: the type vocabulary of pipeline files, and how a declared type compares with a found one.

Column types are compared by family, because that is what users mean:

=====================================================  =========  ==============================================
expected vs found                                      verdict    example
=====================================================  =========  ==============================================
same type                                              ok         int64 vs int64
generic name, found type of that family                ok         int vs int32, number vs float64, str vs string
same family, other width / unit / time zone            warning    int32 vs int64, datetime64[us] vs datetime64[ns]
float expected, integer found                          warning    float64 vs int64 (integers read as floats)
string vs category, datetime vs date, decimal vs float warning    string vs category
nothing in the sample to tell (all-null column)        warning    int64 vs null
expected type name unknown                             warning    int64 vs "money"
different families                                     issue      int64 vs string, bool vs int64, int64 vs float64
=====================================================  =========  ==============================================

Families: integer (int8..int64, uint8..uint64, Int64), float (float16/32/64, double), bool, string
(string, str, object, utf8), category, datetime (datetime64[unit, tz], timestamp), date, timedelta,
decimal, binary. Generic names: int, integer, float, number / numeric (integer or float), string,
datetime, date, bool, category, decimal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def arrow_type_name(t: pa.DataType) -> str:
    """The type vocabulary of pipeline files (int64, float64, string, datetime64[ns], ...) for an arrow type."""
    import pyarrow as pa

    if pa.types.is_floating(t):
        return {16: "float16", 32: "float32"}.get(t.bit_width, "float64")
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return "string"
    if pa.types.is_dictionary(t):
        return "category"
    if pa.types.is_timestamp(t):
        return f"datetime64[{t.unit}, {t.tz}]" if t.tz else f"datetime64[{t.unit}]"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_duration(t):
        return f"timedelta64[{t.unit}]"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    return str(t)  # int8..uint64, null, decimal128(p, s), list<...>, struct<...>


_GENERIC = {"int": "integer", "integer": "integer", "float": "float", "number": "number", "numeric": "number",
            "string": "string", "str": "string", "object": "string", "datetime": "datetime",
            "timestamp": "datetime", "date": "date", "bool": "bool", "boolean": "bool", "category": "category",
            "decimal": "decimal"}
_ALIASES = {"double": "float64", "float": "float64", "halffloat": "float16", "utf8": "string",
            "large_string": "string", "large_utf8": "string", "str": "string", "boolean": "bool",
            "categorical": "category", "date32": "date", "date32[day]": "date", "date64": "date",
            "long": "int64", "short": "int16"}
_NEAR_FAMILIES = {frozenset({"string", "category"}), frozenset({"datetime", "date"}),
                  frozenset({"decimal", "float"})}


def _canonical(name: str) -> str:
    text = name.strip()
    low = text.lower()
    if low.startswith("timestamp["):
        low = "datetime64" + low[len("timestamp"):]
    return _ALIASES.get(low, low)


def type_family(name: str) -> str:
    """The family of a type name: integer, float, bool, string, category, datetime, date, ..., or other."""
    low = _canonical(name)
    if re.fullmatch(r"u?int(8|16|32|64)?|integer", low):
        return "integer"
    if re.fullmatch(r"float(16|32|64)?", low):
        return "float"
    for prefix, family in (("datetime", "datetime"), ("timedelta", "timedelta"), ("duration", "timedelta"),
                           ("decimal", "decimal"), ("dictionary", "category")):
        if low.startswith(prefix):
            return family
    return {"bool": "bool", "string": "string", "object": "string", "category": "category", "date": "date",
            "binary": "binary", "bytes": "binary", "null": "null", "number": "number",
            "numeric": "number"}.get(low, "other")


def compare_types(expected: str, actual: str) -> tuple[str, str]:
    """``("ok" | "warning" | "issue", why)`` for a column declared ``expected`` and found ``actual``."""
    exp, act = _canonical(expected), _canonical(actual)
    fam_e, fam_a = type_family(expected), type_family(actual)
    if exp == act:
        return "ok", "same type"
    if fam_a == "null":
        return "warning", "no values in the sample to tell the type"
    generic = _GENERIC.get(expected.strip().lower())
    if generic == "number":
        return ("ok", "a number") if fam_a in ("integer", "float") else ("issue", "not a number")
    if generic is not None and generic == fam_a:
        return "ok", f"a {generic} type"
    if fam_e == fam_a and fam_e != "other":
        return "warning", "same kind of data, different width, unit or time zone"
    if fam_e == "float" and fam_a == "integer":
        return "warning", "integers where floats are expected: they read as floats"
    if frozenset({fam_e, fam_a}) in _NEAR_FAMILIES:
        return "warning", f"{fam_a} where {fam_e} is expected: close, but not the same"
    if fam_e == "other":
        return "warning", f"unknown type name {expected!r}: cannot compare"
    return "issue", "different kinds of data"

