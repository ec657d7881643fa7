"""Renders a role's template for one site on the controller: ``site | provisioner_render(path)``.

A loop of the ``template`` module costs one module run per site and file, and a ``template``
lookup inside a batch re-templates Ansible's whole variable context each time (about a second
a site at 500 sites). The site templates need nothing of that context: they see ``site`` (one
entry of the site list, provisioner/site.py), ``password`` (the site's database password, which
the role reads with the ``file`` lookup: it decrypts the vault-encrypted file, provisioner/secrets.py)
and whatever the role passes as keyword arguments. The contents then go to the target in one ``provisioner_files``
call (playbooks/library); a task carrying a password is ``no_log``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2


@cache
def _environment(folder: str) -> jinja2.Environment:
    # As the template module: blocks trimmed, the file's own trailing newline kept.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), trim_blocks=True,
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              autoescape=False)


def render(site: dict[str, Any], template: str, password: str | None = None, **values: Any) -> str:
    path = Path(template)
    try:
        loaded = _environment(str(path.parent)).get_template(path.name)
        return loaded.render(site=site, password=password, **values)
    except (OSError, jinja2.TemplateError) as exc:
        # Never the values: they may hold a password.
        raise ValueError(f"{path.name} for site {site.get('id')}: {type(exc).__name__}: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"provisioner_render": render}
