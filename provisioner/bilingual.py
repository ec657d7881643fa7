"""A text said in both of the project's languages, Indonesian and English.

The documents are written in both; what goes into them (a check's name, an SOP step, an incident's
impact) is kept as a ``Said`` and each document takes its own language. Data that is the same in
every language (an address, a path, a server's own words) is a ``Said`` too: ``Said.data``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LANGS = ("en", "id")


@dataclass(frozen=True)
class Said:
    """One text in both languages."""

    en: str
    id: str

    def __call__(self, lang: str) -> str:
        return self.id if lang == "id" else self.en

    @classmethod
    def data(cls, text: object) -> Said:
        """Text that is the same in every language: an address, a path, a server's own words."""
        return cls(str(text), str(text))

    @classmethod
    def message(cls, message: str, **fields: object) -> Said:
        """A message marked ``N_`` for the gettext catalogs (provisioner/language.py) in both
        languages, its fields filled: for a text a result keeps in both (a doctor check's name)."""
        from provisioner.language import catalog

        return cls(message.format(**fields), catalog("id").get(message, message).format(**fields))

    def __add__(self, other: Said | str) -> Said:
        more = other if isinstance(other, Said) else Said.data(other)
        return Said(self.en + more.en, self.id + more.id)


Value = Said | str | int | float


def in_lang(value: Value, lang: str) -> str:
    return value(lang) if isinstance(value, Said) else str(value)


def join(items: Iterable[Value], separator: str = ", ", empty: Said | None = None) -> Said:
    """Items joined in each language; ``empty`` when there are none."""
    values = list(items)
    if not values and empty is not None:
        return empty
    return Said(*(separator.join(in_lang(v, lang) for v in values) for lang in LANGS))
