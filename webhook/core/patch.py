"""Building an RFC 6902 patch op by op, against the object as it is (no diffing of whole documents)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.core.types import PatchOp


def escape(token: str) -> str:
    """A JSON pointer reference token (RFC 6901): '~' then '/' are escaped, in that order."""
    return token.replace("~", "~0").replace("/", "~1")


class PatchBuilder:
    def __init__(self) -> None:
        self.ops: list[PatchOp] = []

    def add(self, path: str, value: Any) -> str:
        self.ops.append({"op": "add", "path": path, "value": value})
        return path

    def replace(self, path: str, value: Any) -> str:
        self.ops.append({"op": "replace", "path": path, "value": value})
        return path

    def append(self, list_path: str, current: Sequence[Any] | None, value: Any) -> str:
        """Append to a list that may not exist yet; returns the pointer of the new element."""
        if current is None:
            self.add(list_path, [value])
            return f"{list_path}/0"
        self.add(f"{list_path}/-", value)
        return f"{list_path}/{len(current)}"

    def insert(self, list_path: str, current: Sequence[Any] | None, index: int, value: Any) -> str:
        """Insert before element `index` of a list that may not exist yet; returns the new element's
        pointer. With current None, index 0 creates the list; a later index is into a list that an
        earlier op of this patch created."""
        if current is None and index == 0:
            self.add(list_path, [value])
        else:
            self.add(f"{list_path}/{index}", value)
        return f"{list_path}/{index}"

    def extend(self, list_path: str, current: Sequence[Any] | None, values: Sequence[Any]) -> list[str]:
        """Append several values to a list that may not exist yet; returns the pointers of the new elements."""
        if not values:
            return []
        start = 0 if current is None else len(current)
        if current is None:
            self.add(list_path, list(values))
        else:
            for value in values:
                self.add(f"{list_path}/-", value)
        return [f"{list_path}/{start + i}" for i in range(len(values))]

    def set_keys(self, map_path: str, current: Mapping[str, Any] | None, items: Mapping[str, Any]) -> list[str]:
        """Set keys of a map that may not exist yet; all keys at once, so a new map is added whole."""
        paths = [f"{map_path}/{escape(key)}" for key in items]
        if not items:
            return []
        if current is None:
            self.add(map_path, dict(items))
            return paths
        for path, (key, value) in zip(paths, items.items(), strict=True):
            if key in current:
                self.replace(path, value)
            else:
                self.add(path, value)
        return paths
