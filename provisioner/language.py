"""The language of messages and tables: English by default, Indonesian on request.

A message is written in English in the code and marked with ``_`` (``_("is required")``, with
named fields filled after: ``_("'{value}' is not a date").format(value=...)``). Its translations
are gettext catalogs, ``provisioner/locale/<lang>/LC_MESSAGES/provisioner.po``, written with
Babel's tooling (``scripts/messages`` extracts the marked messages and updates the catalogs);
they are read with Babel when a message is first said in that language.

The command line chooses the language once, before any message is made: ``--lang id|en``, else
the locale's (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``id_ID.UTF-8`` is Indonesian). Field paths,
``--json`` keys and the words of the contract (``ok``, ``failed``, check ids) never change with it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "provisioner"
LANGUAGES = ("en", "id")
_chosen = ["en"]


def from_environment(environ: Mapping[str, str] = os.environ) -> str:
    """The locale's language, as gettext looks it up: the first of LC_ALL, LC_MESSAGES, LANG set."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "id" if value.split(".")[0].split("_")[0].lower() in ("id", "in") else "en"
    return "en"


def choose(option: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """Use ``option`` (``--lang``) or the locale's language for every message from now on."""
    lang = option if option in LANGUAGES else from_environment(environ)
    _chosen[0] = lang
    return lang


def current() -> str:
    return _chosen[0]


@functools.cache
def catalog(lang: str, domain: str = DOMAIN) -> dict[str, str]:
    """The translations of one language: English message -> translation (an empty one: none).

    A message with a plural form is keyed by its singular and translated by its first form:
    Indonesian has one form for every count (``Plural-Forms: nplurals=1``).
    """
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle, locale=lang)
    found = {}
    for m in messages:
        ids = m.id if isinstance(m.id, tuple | list) else (m.id,)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        key, text = ids[0], strings[0]
        if key and text and not m.fuzzy:
            found[str(key)] = str(text)
    return found


def translate(message: str, domain: str = DOMAIN) -> str:
    """``message`` in the chosen language (English when the catalog has no translation for it)."""
    lang = _chosen[0]
    if lang == "en":
        return message
    return catalog(lang, domain).get(message, message)


def translate_plural(singular: str, plural: str, count: int, domain: str = DOMAIN) -> str:
    """``ngettext``: the English form for ``count``, or its translation (one form for every count)."""
    english = singular if count == 1 else plural
    if _chosen[0] == "en":
        return english
    return catalog(_chosen[0], domain).get(singular, english)


def _(message: str) -> str:
    """``message`` in the chosen language (English when the catalog has no translation for it)."""
    return translate(message)


def N_(message: str) -> str:
    """Mark a message for the catalogs without translating it here (it is translated where said)."""
    return message
