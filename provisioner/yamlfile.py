"""Strict YAML reading: duplicate keys are errors, not silently last-one-wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import FieldError, InvalidInput


class _StrictLoader(yaml.SafeLoader):
    duplicates: list[FieldError]


def _path_of(loader: _StrictLoader, node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[arg-type]
        if isinstance(key, str | int) and key in seen:
            loader.duplicates.append(
                FieldError(
                    str(key),
                    f"duplicate key at {_path_of(loader, key_node)} "
                    f"(first at {_path_of(loader, seen[key])}); write it once",
                )
            )
        if isinstance(key, str | int):
            seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_mapping(path: Path, what: str = "file") -> dict[str, Any]:
    """Read ``path`` as a YAML mapping; raise InvalidInput naming the problem otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found: {path}", [FieldError("", f"no such file: {path}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} cannot be read: {path}", [FieldError("", str(exc))]) from None
    try:
        loader = _StrictLoader(text)  # the reader already refuses control characters
        loader.duplicates = []
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{what} is not valid YAML: {path}", [FieldError("", str(exc))]) from None
    if loader.duplicates:
        raise InvalidInput(f"{what} has duplicate keys: {path}", loader.duplicates)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise InvalidInput(
            f"{what} must be a YAML mapping: {path}",
            [FieldError("", f"the document is {kind}, expected a mapping of fields")],
        )
    return data
