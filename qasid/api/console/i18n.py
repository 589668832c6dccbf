"""The console's languages: gettext catalogues read from the .po files when first needed.

The .po files are the only catalogue we keep: they are compiled in memory with Babel the first
time a language is used, so nothing is built at install time and no .mo can go stale.
"""

from __future__ import annotations

import functools
import io
from importlib import resources
from typing import Any

LANGUAGES = ("en", "ur")
RTL = frozenset({"ur"})
DOMAIN = "messages"


@functools.cache
def translations(language: str) -> Any:
    """The gettext translations of `language` (English, the source language, needs none)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if language == "en":
        return NullTranslations()
    po = resources.files("qasid.api.console") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def choose(accept_language: str | None, asked: str | None) -> str:
    """The language for someone not signed in: what they asked for, else their browser's first we have."""
    if asked in LANGUAGES:
        return str(asked)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
