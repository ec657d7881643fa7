"""Click's own texts and our commands' help in the messages' language (provisioner/language.py).

Click says its texts ("Usage:", "Error: No such option", "Show this message and exit.") through
``gettext.gettext`` and ``ngettext``, bound as ``_`` and ``ngettext`` in each of its modules when
they are imported: those look in the process-wide gettext domain, in compiled ``.mo`` files, for
the language of the environment alone. ``install`` points those names at our catalogs instead
(domain ``click``: ``provisioner/locale/<lang>/LC_MESSAGES/click.po``, which ``scripts/messages``
extracts from the installed Click), so ``--lang id`` chooses Click's language as it does ours.

Our commands' and options' help is English in the code, marked ``N_`` for the catalog, and said
in the chosen language when Click reads it (``Command.help``, ``Option.help``), so help is
translated when it is formatted, after the language was chosen from the command line
(``RootGroup.make_context``), and costs nothing in English.
"""

from __future__ import annotations

import gettext
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from provisioner import language
from provisioner.language import N_

CLICK_DOMAIN = "click"
# What Click says through ``_`` without marking it (the value is looked up): in our own catalog.
UNMARKED = (N_("required"),)
# Click's help option is made once per command, in the language of that moment: said again on each use.
HELP_OPTION_HELP = "Show this message and exit."
VERSION_OPTION_HELP = "Show the version and exit."  # Click's text, said from Click's catalog


def click_text(message: str) -> str:
    said = language.translate(message, CLICK_DOMAIN)
    return said if said != message else language.translate(message)


def click_plural(singular: str, plural: str, count: int) -> str:
    return language.translate_plural(singular, plural, count, CLICK_DOMAIN)


def install() -> None:
    """Click's modules say their texts through our catalogs (in English as before for ``en``).

    The modules ``import click`` loads (core, exceptions, parser, types, decorators, formatting,
    termui, utils: every text of parsing, help and prompts); those Click imports later on demand
    (the pager, shell completion) keep gettext's."""
    for name, module in list(sys.modules.items()):
        if name != "click" and not name.startswith("click."):
            continue
        if getattr(module, "_", None) is gettext.gettext:
            module._ = click_text  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is gettext.ngettext:
            module.ngettext = click_plural  # type: ignore[attr-defined]


def language_asked(args: Sequence[str]) -> str | None:
    """``--lang id|en`` anywhere on the command line (``report --lang en`` too), read before Click
    parses it: the help and the usage errors of that very parse are said in it."""
    for index, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else (
            args[index + 1] if arg == "--lang" and index + 1 < len(args) else None)
        if value in language.LANGUAGES:
            return value
    return None


def help_text(text: str | None) -> str | None:
    """A help text of ours (catalog ``provisioner``) or one Click gave (``click``, the version option's)."""
    if not text:
        return text
    said = language.translate(text)
    return said if said != text else click_text(text)


class TranslatedHelp:
    """``help`` kept as written (English) and said in the chosen language whenever Click reads it."""

    _help_written: str | None = None

    @property
    def help(self) -> str | None:
        return help_text(self._help_written)

    @help.setter
    def help(self, value: str | None) -> None:
        self._help_written = value


class Option(TranslatedHelp, click.Option):
    pass


class TranslatedCommand(TranslatedHelp):
    """A command's help, and that of its ``--help`` option, in the chosen language."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option: click.Option | None = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = click_text(HELP_OPTION_HELP)
        return option


class Command(TranslatedCommand, click.Command):
    pass


class Group(TranslatedCommand, click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups of this class too


class RootGroup(Group):
    """The top command: chooses the language (``--lang``, else the locale's) before parsing."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if parent is None and language.choose(language_asked(args)) != "en":
            install()
        return super().make_context(info_name, args, parent, **extra)


def option(*param_decls: str, **attrs: Any) -> Callable:
    """``click.option`` whose help is said in the chosen language."""
    return click.option(*param_decls, cls=Option, **attrs)


def version_option(version: str) -> Callable:
    """``--version``: Click's own option makes its message when the command is defined (at import,
    before the language is chosen); this one says it when asked."""

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        click.echo(click_text("%(prog)s, version %(version)s") % {"prog": ctx.find_root().info_name,
                                                                  "version": version})
        ctx.exit()

    return option("--version", is_flag=True, expose_value=False, is_eager=True, callback=show,
                  help=VERSION_OPTION_HELP)
