"""Page rendering: one Jinja2 environment per language, autoescaped, built when first needed.

Jinja2 is imported on the console's first page, not at server start: a server whose admins never
open the console carries none of it.
"""

from __future__ import annotations

import functools
from typing import Any

from qasid.api.console.i18n import RTL, translations
from qasid.gov.audit import iso_time


@functools.cache
def environment(language: str) -> Any:
    """The template environment of `language`, with its catalogue installed."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qasid.api.console", "templates"),
        autoescape=True, extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(lang=language, direction="rtl" if language in RTL else "ltr")
    env.filters["time"] = lambda ms: "" if ms is None else iso_time(int(ms))[:16].replace("T", " ") + " UTC"
    return env


def render(language: str, template: str, context: dict[str, Any]) -> str:
    """The page `template` rendered in `language`."""
    return str(environment(language).get_template(template).render(**context))
