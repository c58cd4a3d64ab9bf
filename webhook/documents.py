"""Reading Kubernetes objects from JSON or YAML text: safe, alias-free, one object per document."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from webhook.core.types import JSONObject

DEFAULT_MAX_DOCUMENTS = 200


class DocumentError(ValueError):
    """The text is not a readable object; the message says what and where."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases: they let a few bytes expand into gigabytes of output."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise DocumentError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not accepted")
        return super().compose_node(parent, index)


# Unquoted dates stay text, as kubectl reads them: a pod holds strings, never timestamps.
_NoAliasLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JSON_SCALARS = (str, int, float, bool, type(None))


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
        elif not isinstance(node, _JSON_SCALARS):
            raise DocumentError(f"document {number}: {path or '(top)'}: a {type(node).__name__} is not JSON data")


def parse_yaml_all(text: str) -> list[Any]:
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_NoAliasLoader) if doc is not None]
    except yaml.YAMLError as error:
        raise DocumentError(f"not valid YAML: {error}".replace("\n", " ")) from None
    except RecursionError:
        raise DocumentError("the document is nested too deeply") from None
    for number, document in enumerate(documents, start=1):
        _require_json_data(document, number)
    return documents


def parse_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("depth limit exceeded"):
            raise DocumentError("the document is nested too deeply") from None
        raise DocumentError(f"not valid JSON: {error}") from None


def load_objects(text: str | bytes, max_documents: int = DEFAULT_MAX_DOCUMENTS) -> list[JSONObject]:
    """Objects from JSON or (multi-document) YAML; a `kind: List` gives its items."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("the input is not UTF-8 text") from None
    stripped = text.lstrip()
    documents = [parse_json(text)] if stripped.startswith(("{", "[")) else parse_yaml_all(text)
    objects: list[JSONObject] = []
    for number, document in enumerate(documents, start=1):
        items = document if isinstance(document, list) else [document]
        if isinstance(document, dict) and document.get("kind") == "List" and isinstance(document.get("items"), list):
            items = document["items"]
        for item in items:
            if not isinstance(item, dict):
                raise DocumentError(f"document {number} is not an object with apiVersion and kind")
            objects.append(item)
    if not objects:
        raise DocumentError("the input holds no object")
    if len(objects) > max_documents:
        raise DocumentError(f"the input holds {len(objects)} objects; at most {max_documents} are previewed at once")
    return objects
