"""Strict YAML reading: duplicate keys are errors, not silently last-one-wins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _

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


def _structure(text: str, loader: Any, anchors: bool, max_depth: int | None) -> list[FieldError]:
    """What is refused before any node is built, each named by its field, from the event stream:
    unless ``anchors``, the first anchors (``&a``) and aliases (``*a``): a few hundred bytes of
    nested aliases ("billion laughs") expand to billions of nodes, and walking them took minutes;
    collections nested deeper than ``max_depth`` (the checks that follow recurse)."""
    import yaml

    found: list[FieldError] = []
    # One frame per open collection: [is a mapping, current key or index, the next node is a key].
    frames: list[list[Any]] = []

    def node_done() -> None:
        if frames and frames[-1][0]:
            frames[-1][2] = not frames[-1][2]

    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frames.pop()
            node_done()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue  # the stream's and documents' start and end
        if frames and not frames[-1][0]:
            frames[-1][1] += 1
        if event.anchor and not anchors:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            line = event.start_mark.line + 1 if event.start_mark else 0
            found.append(FieldError(_field(frames), _("YAML {kind} '{name}' at line {line}: anchors and aliases are "
                                                      "not allowed; write each value out").format(
                kind=kind, name=event.anchor, line=line)))
            if len(found) >= 3:
                break
        if isinstance(event, yaml.CollectionStartEvent) and max_depth is not None and len(frames) >= max_depth:
            line = event.start_mark.line + 1 if event.start_mark else 0
            found.append(FieldError(_field(frames), _("nested more than {limit} levels deep at line {line}; at most "
                                                      "{limit} are allowed").format(limit=max_depth, line=line)))
            break
        if isinstance(event, yaml.MappingStartEvent):
            frames.append([True, "?", True])
        elif isinstance(event, yaml.SequenceStartEvent):
            frames.append([False, -1, False])
        else:  # a scalar or an alias: the node is complete
            if frames and frames[-1][0] and frames[-1][2]:
                frames[-1][1] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
            node_done()
    return found


def _field(frames: list[list[Any]]) -> str:
    """The dotted path of the node the open collections point at (a key: its mapping's path)."""
    path = ""
    for is_mapping, position, at_key in frames:
        if is_mapping and at_key:
            break
        path = (f"{path}.{position}" if path else str(position)) if is_mapping else f"{path}[{position}]"
    return path


def _read(path: Path, what: str, max_bytes: int | None) -> str:
    """The file's text; over ``max_bytes``, refused unread (or after that many bytes, for a file
    whose size the file system does not tell, such as a pipe)."""
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise InvalidInput(_("{what} is too large: {path}").format(what=_(what), path=path),
                           [FieldError("", _("{size} bytes; at most {limit} are allowed").format(
                               size=size, limit=max_bytes))])
    with path.open("rb") as stream:
        raw = stream.read(-1 if max_bytes is None else max_bytes + 1)
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidInput(_("{what} is too large: {path}").format(what=_(what), path=path),
                           [FieldError("", _("more than {limit} bytes; at most {limit} are allowed").format(
                               limit=max_bytes))])
    return raw.decode("utf-8")


def load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with libyaml when present (5 to 10 times faster than the Python parser);
    for files provisioner writes itself, which need no strict reading."""
    import yaml

    return yaml.load(text, Loader=_safe_loader())


def _safe_loader() -> Any:
    """libyaml's safe loader when present: a batch of 500 case files is read in a second, not ten."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_mapping(path: Path, what: str = "file", *, max_bytes: int | None = None,
                 anchors: bool = True, max_depth: int | None = None) -> dict[str, Any]:
    """Read ``path`` as a YAML mapping; raise InvalidInput naming the problem otherwise.

    ``max_bytes``: a larger file is refused unread; ``anchors=False``: anchors and aliases are
    refused; ``max_depth``: collections nested deeper are refused. All three before the YAML is built.
    """
    import yaml

    try:
        text = _read(path, what, max_bytes)
    except FileNotFoundError:
        raise InvalidInput(_("{what} not found: {path}").format(what=_(what), path=path),
                           [FieldError("", _("no such file: {path}").format(path=path))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(_("{what} cannot be read: {path}").format(what=_(what), path=path),
                           [FieldError("", str(exc))]) from None
    loader_class = _safe_loader()
    try:
        refused = [] if anchors and max_depth is None else _structure(text, loader_class, anchors, max_depth)
        if refused:
            message = (_("{what} uses YAML anchors or aliases: {path}") if "'" in refused[0].message
                       else _("{what} is nested too deep: {path}"))  # only the anchor's message names it in quotes
            raise InvalidInput(message.format(what=_(what), path=path), refused)
        loader = loader_class(text)  # a safe loader, C or Python; the document is composed once
        try:
            node = loader.get_single_node()
            duplicates = _duplicates(node)
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise InvalidInput(_("{what} is not valid YAML: {path}").format(what=_(what), path=path),
                           [FieldError("", str(exc))]) from None
    if duplicates:
        raise InvalidInput(_("{what} has duplicate keys: {path}").format(what=_(what), path=path), duplicates)
    if not isinstance(data, dict):
        kind = _("empty") if data is None else type(data).__name__
        raise InvalidInput(
            _("{what} must be a YAML mapping: {path}").format(what=_(what), path=path),
            [FieldError("", _("the document is {kind}, expected a mapping of fields").format(kind=kind))],
        )
    return data
