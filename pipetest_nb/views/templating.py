"""The one Jinja2 environment of the views: every HTML page and panel is a template, autoescaped.

Values from runs (step names, error text, column names, data) are untrusted; autoescape makes every
``{{ value }}`` safe, and ``|safe`` marks the few fragments that are HTML we built (a plotly div).
``StrictUndefined`` turns a misspelt variable into an error in the tests instead of an empty cell.
"""

from __future__ import annotations

import html
from functools import cache
from typing import Any

from pipetest_nb.json_values import display_value
from pipetest_nb.text import format_bytes, format_duration


@cache
def environment() -> Any:
    """The environment over ``views/templates/`` (Jinja2 is imported the first time a view renders)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("pipetest_nb.views", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, finalize=_escaped)
    env.filters.update(bytes=format_bytes, duration=format_duration, value=display_value,
                       count=lambda n: "-" if n is None else f"{n:,}" if isinstance(n, int) else str(n))
    return env


def _escaped(value: Any) -> Any:
    """Each ``{{ value }}`` escaped as ``html.escape`` writes it (``&#x27;``, ``&quot;``), as the pages read
    before they were templates; markup we built (``|safe``, ``Markup``) passes unchanged."""
    from markupsafe import Markup

    return value if hasattr(value, "__html__") else Markup(html.escape(str(value)))


def render(template: str, **context: Any) -> str:
    """The text of ``views/templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)
