"""Reading Kubernetes objects from files and from JSON or YAML text: safe, alias-free, one object per document."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import orjson
import yaml

from webhook.core.errors import DocumentError
from webhook.core.types import JSONObject

DEFAULT_MAX_DOCUMENTS = 200

# What went wrong with a file, in words; never Python's "[Errno 2] No such file or directory: 'x'".
_OS_REASONS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a directory, not a file",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EEXIST: "already exists",
}


def os_error_reason(error: OSError) -> str:
    """Why a file could not be read or written, for a person: 'no such file', 'permission denied'."""
    known = _OS_REASONS.get(error.errno) if error.errno is not None else None
    text = known or error.strerror
    if text:
        return text[:1].lower() + text[1:]
    return str(error) or type(error).__name__


def read_text_file(path: str | Path, max_bytes: int | None = None) -> str:
    """A file's UTF-8 text. DocumentError when it cannot be read: the message says why, the field is the
    file, so str(error) reads 'rules.yaml: no such file'."""
    try:
        with open(path, "rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as error:
        raise DocumentError(os_error_reason(error), str(path)) from None
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentError(f"larger than {max_bytes} bytes", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8 text", str(path)) from None


# Deeper than any Kubernetes object; also what keeps libyaml's recursive composer off the C stack's end.
MAX_YAML_DEPTH = 100

_FAST = getattr(yaml, "CSafeLoader", None)


def _text_dates(loader: type[Any]) -> None:
    """Unquoted dates stay text, as kubectl reads them: a pod holds strings, never timestamps."""
    loader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


class _SlowLoader(yaml.SafeLoader):
    """PyYAML's own parser with the safe constructor; only run on text _check_events has passed."""


_text_dates(_SlowLoader)
if _FAST is not None:

    class _FastLoader(_FAST):  # type: ignore[misc, valid-type]
        """libyaml's parser with the safe constructor; only run on text _check_events has passed."""

    _text_dates(_FastLoader)

_OPENINGS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSINGS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_events(text: str, loader: type[Any]) -> None:
    """Refuse aliases (a few bytes can expand into gigabytes) and deep nesting, from the event stream,
    which both parsers produce without recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, _OPENINGS):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise DocumentError("the document is nested too deeply")
        elif isinstance(event, _CLOSINGS):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise DocumentError(f"line {line}: YAML aliases (*{event.anchor}) are not accepted")


def _yaml_error(error: yaml.YAMLError) -> DocumentError:
    """PyYAML's message without its '<unicode string>' lines: line, column and what is wrong."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        context = f" ({error.context})" if error.context else ""
        return DocumentError(f"not valid YAML: {where}: {error.problem}{context}")
    return DocumentError(f"not valid YAML: {error}".replace("\n", " "))


_JSON_SCALARS = (str, int, float, bool, type(None))
# What JSON encoders (and Kubernetes' int64 fields) can carry; YAML integers have no bound.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _require_json_data(document: Any, number: int) -> None:
    """Only what JSON can hold: YAML also allows non-string keys, !!binary bytes and !!set."""
    pending: list[tuple[Any, str]] = [(document, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise DocumentError(f"document {number}: {path or '(top)'}: the key {key!r} is not a string")
                pending.append((value, f"{path}.{key}" if path else key))
        elif isinstance(node, list):
            pending.extend((item, f"{path}[{i}]") for i, item in enumerate(node))
        elif isinstance(node, int) and not _INT_MIN <= node <= _INT_MAX:
            raise DocumentError(f"document {number}: {path or '(top)'}: {node} does not fit in 64 bits")
        elif not isinstance(node, _JSON_SCALARS):
            raise DocumentError(f"document {number}: {path or '(top)'}: a {type(node).__name__} is not JSON data")


def parse_yaml_all(text: str, fast: bool = _FAST is not None) -> list[Any]:
    """Every document in the text; `fast` (libyaml, when PyYAML has it) reads big input several times quicker."""
    try:
        loader = _FastLoader if fast else _SlowLoader
        _check_events(text, loader)
        documents = [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]
    except yaml.YAMLError as error:
        raise _yaml_error(error) from None
    except RecursionError:
        raise DocumentError("the document is nested too deeply") from None
    for number, document in enumerate(documents, start=1):
        _require_json_data(document, number)
    return documents


def compose_yaml(text: str, fast: bool = _FAST is not None) -> yaml.Node | None:
    """The first document's node tree, where every node knows its line and column; after the same
    checks as parse_yaml_all, so only for text that parse_yaml_all has read."""
    loader = _FastLoader if fast else _SlowLoader
    _check_events(text, loader)
    for node in yaml.compose_all(text, Loader=loader):
        return node
    return None


def parse_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("depth limit exceeded"):
            raise DocumentError("the document is nested too deeply") from None
        raise DocumentError(f"not valid JSON: {error}") from None


def load_objects(text: str | bytes, max_documents: int = DEFAULT_MAX_DOCUMENTS) -> list[JSONObject]:
    """Objects from JSON or (multi-document) YAML; a list gives its items (list_items). A list with no
    items is an answer (`kubectl get` in an empty namespace), so only input without any document is
    refused for holding no object."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("the input is not UTF-8 text") from None
    stripped = text.lstrip()
    documents = [parse_json(text)] if stripped.startswith(("{", "[")) else parse_yaml_all(text)
    objects: list[JSONObject] = []
    lists = 0
    for number, document in enumerate(documents, start=1):
        items = list_items(document)
        if items is None:
            items = document if isinstance(document, list) else [document]
        else:
            lists += 1
        for item in items:
            if not isinstance(item, dict):
                raise DocumentError(f"document {number} is not an object with apiVersion and kind")
            objects.append(item)
    if not objects and not lists:
        raise DocumentError("the input holds no object")
    if len(objects) > max_documents:
        raise DocumentError(f"the input holds {len(objects)} objects; at most {max_documents} are read from one input")
    return objects


def list_items(document: Any) -> list[Any] | None:
    """The items of a list object, None for anything else. `kubectl get -o yaml|json` prints a `kind:
    List` whose items are whole objects; the API itself answers a typed list (DeploymentList) whose
    items carry no kind or apiVersion: they get the list's."""
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        return None
    kind = document.get("kind")
    items: list[Any] = document["items"]
    if kind == "List":
        return items
    if not isinstance(kind, str) or not kind.endswith("List"):
        return None
    typed: dict[str, Any] = {"kind": kind.removesuffix("List")}
    if isinstance(document.get("apiVersion"), str):
        typed = {"apiVersion": document["apiVersion"], **typed}
    return [{**typed, **item} if isinstance(item, dict) else item for item in items]


def object_name(obj: JSONObject, number: int) -> str:
    """Kind/name as kubectl writes it; generateName for a pod a controller is about to name, and
    document-N (counting from 1) for an object with neither."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name") or metadata.get("generateName") or f"document-{number}"
    return f"{obj.get('kind', 'object')}/{name}"
