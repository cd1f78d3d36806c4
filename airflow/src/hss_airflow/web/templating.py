"""The Jinja2 environment of the /hss pages: templates in hss_airflow/web/templates/, autoescape on.

Every value a page shows comes from a file under the data root, so nothing reaches the HTML unescaped:
the templates never mark a value safe, and the only Markup they receive is what another template of this
environment rendered (a chart, a macro).
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def path_part(value: Any) -> str:
    """One URL path segment: '/' is quoted too (a song id in /hss/songs/<id>, a run id in /dags/.../runs/<id>)."""
    return quote(str(value), safe="")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hss_airflow.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the page's test instead of rendering empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["path_part"] = path_part
    return env


def render(name: str, **context: Any) -> str:
    """The template filled in. A lone surrogate from a JSON '\\ud800' escape becomes '?': the response is UTF-8."""
    text = environment().get_template(name).render(**context)
    return text.encode("utf-8", "replace").decode("utf-8")


def render_markup(name: str, **context: Any) -> Markup:
    """A fragment (a chart) to put into a page: it was escaped when rendered, so it is not escaped again."""
    return Markup(render(name, **context))
