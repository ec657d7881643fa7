"""Strict YAML reading: duplicate keys are errors, not silently last-one-wins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.errors import FieldError, InvalidInput

if TYPE_CHECKING:  # yaml is imported where a file is read: `provisioner --help` does not need it
    import yaml


def _duplicates(node: yaml.Node | None, path: str = "") -> list[FieldError]:
    """Every key written twice in a mapping, named by its full dotted path."""
    import yaml

    found: list[FieldError] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                found.append(FieldError(child, f"duplicate key at line {line} (first at line {seen[key]}); "
                                               "write it once"))
            seen.setdefault(key, line)
            found += _duplicates(value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicates(item, f"{path}[{index}]")
    return found


def _anchors(text: str, loader: Any) -> list[FieldError]:
    """Every anchor (``&a``) and alias (``*a``), found in the event stream before anything is built:
    a few hundred bytes of nested aliases ("billion laughs") expand to billions of nodes."""
    import yaml

    found = []
    for event in yaml.parse(text, Loader=loader):
        name = getattr(event, "anchor", None)
        if name:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            line = event.start_mark.line + 1 if event.start_mark else 0
            found.append(FieldError("", f"YAML {kind} '{name}' at line {line}: anchors and aliases are not "
                                        "allowed; write each value out"))
            if len(found) >= 3:
                break
    return found


def load_mapping(path: Path, what: str = "file", *, max_bytes: int | None = None,
                 anchors: bool = True) -> dict[str, Any]:
    """Read ``path`` as a YAML mapping; raise InvalidInput naming the problem otherwise.

    ``max_bytes``: a larger file is refused unread; ``anchors=False``: anchors and aliases are refused.
    """
    import yaml

    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise InvalidInput(f"{what} is too large: {path}",
                               [FieldError("", f"{path.stat().st_size} bytes; at most {max_bytes} are allowed")])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found: {path}", [FieldError("", f"no such file: {path}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} cannot be read: {path}", [FieldError("", str(exc))]) from None
    try:
        # libyaml when present: a batch of 500 case files is read in a second, not ten.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        refused = [] if anchors else _anchors(text, loader)
        if refused:
            raise InvalidInput(f"{what} uses YAML anchors or aliases: {path}", refused)
        duplicates = _duplicates(yaml.compose(text, Loader=loader))
        data = yaml.load(text, Loader=loader)  # a safe loader, C or Python
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{what} is not valid YAML: {path}", [FieldError("", str(exc))]) from None
    if duplicates:
        raise InvalidInput(f"{what} has duplicate keys: {path}", duplicates)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise InvalidInput(
            f"{what} must be a YAML mapping: {path}",
            [FieldError("", f"the document is {kind}, expected a mapping of fields")],
        )
    return data
