"""Decodes the glTF JSON and reads it defensively: a wrong type or a bad index becomes an issue, never an exception."""

from __future__ import annotations

import gc
import json
import math
from dataclasses import dataclass
from functools import cached_property

from services.avatar.report import IssueCollector, echo

JsonObject = dict[str, object]

#: Largest integer member read (JavaScript's Number.MAX_SAFE_INTEGER). The widget's loader cannot hold a larger
#: one exactly, and the bound keeps every size computed from counts, strides and offsets small: unbounded, a
#: 4300-digit count made a message's number too long for str() and the validator failed on the file.
MAX_SAFE_INTEGER = 2**53 - 1


def _reject_constant(name: str) -> object:
    """Refuse NaN and Infinity, which Python's json accepts but JSON (and browsers) do not."""
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes, pointer: str, issues: IssueCollector) -> JsonObject | None:
    """The JSON chunk as an object, or None after reporting why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        issues.error("JSON_INVALID_UTF8", f"The JSON chunk is not UTF-8 (byte {exc.start}).", pointer)
        return None
    gc_was_enabled = gc.isenabled()
    # Parsing allocates millions of containers for a large JSON but creates no reference cycles; collecting
    # during it only costs time (measured 2.5x slower on 16 MiB), so the collector pauses for the parse.
    gc.disable()
    try:
        root = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        issues.error("JSON_SYNTAX_ERROR", f"Invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}.", pointer)
        return None
    except RecursionError:
        issues.error("JSON_TOO_DEEP", "The JSON is nested too deeply.", pointer)
        return None
    except ValueError as exc:  # NaN/Infinity, or an integer literal longer than Python's digit limit
        issues.error("JSON_SYNTAX_ERROR", f"Invalid JSON: {echo(str(exc))}.", pointer)
        return None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(root, dict):
        issues.error("JSON_NOT_OBJECT", f"The JSON is {type_name(root)}, not an object.", pointer)
        return None
    return root


def type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def child(pointer: str, key: str | int) -> str:
    """The JSON pointer of a member or element (RFC 6901 escaping; long keys from the file are shortened)."""
    if isinstance(key, int) or (len(key) <= 64 and key.isascii() and key.isalnum()):
        return f"{pointer}/{key}"
    token = echo(key).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{token}"


def as_int(value: object) -> int | None:
    """The value if it is a JSON integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_number(value: object) -> float | None:
    """The value if it is a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer past the float range: json reads the same number written as 1e400 as inf
        return math.inf if value > 0 else -math.inf


@dataclass(frozen=True)
class Item:
    """One object of a JSON array, with its index and the pointer of its array."""

    index: int
    obj: JsonObject
    array_pointer: str

    @cached_property
    def pointer(self) -> str:
        """The object's JSON pointer, built once and only when needed (most objects never get an issue)."""
        return f"{self.array_pointer}/{self.index}"


class DocumentReader:
    """Typed reads of the glTF JSON that report missing members, wrong types and dangling indices."""

    def __init__(self, root: JsonObject, issues: IssueCollector, max_items: int) -> None:
        self.root = root
        self.issues = issues
        self.max_items = max_items
        self._top: dict[str, list[Item]] = {}

    def count(self, name: str) -> int:
        """How many elements the top-level array `name` has (0 when absent or not an array)."""
        value = self.root.get(name)
        return len(value) if isinstance(value, list) else 0

    def top(self, name: str) -> list[Item]:
        """The object elements of a top-level array, checked once and cached."""
        if name not in self._top:
            self._top[name] = self.items(self.root, name, "")
        return self._top[name]

    def items(self, obj: JsonObject, key: str, pointer: str, *, required: bool = False) -> list[Item]:
        """The object elements of `obj[key]`; other elements and over-long arrays are reported."""
        values = self.array(obj, key, pointer, required=required)
        array_pointer = child(pointer, key)
        found: list[Item] = []
        for index, value in enumerate(values):
            if isinstance(value, dict):
                found.append(Item(index, value, array_pointer))
            else:
                self.type_mismatch(child(array_pointer, index), value, "an object")
        return found

    def array(self, obj: JsonObject, key: str, pointer: str, *, required: bool = False) -> list[object]:
        """`obj[key]` as a list, at most `max_items` long; absent or wrong type gives an empty list."""
        value = obj.get(key)
        if value is None:
            if required:
                self.missing(pointer, key)
            return []
        if not isinstance(value, list):
            self.type_mismatch(child(pointer, key), value, "an array")
            return []
        if len(value) > self.max_items:
            self.issues.error(
                "TOO_MANY_ITEMS",
                f"The array has {len(value)} elements; at most {self.max_items} are checked.",
                child(pointer, key),
            )
            return value[: self.max_items]
        return value

    def obj(self, obj: JsonObject, key: str, pointer: str, *, required: bool = False) -> JsonObject | None:
        """`obj[key]` if it is an object."""
        value = obj.get(key)
        if value is None:
            if required:
                self.missing(pointer, key)
            return None
        if not isinstance(value, dict):
            self.type_mismatch(child(pointer, key), value, "an object")
            return None
        return value

    def string(self, obj: JsonObject, key: str, pointer: str, *, required: bool = False) -> str | None:
        """`obj[key]` if it is a string."""
        value = obj.get(key)
        if value is None:
            if required:
                self.missing(pointer, key)
            return None
        if not isinstance(value, str):
            self.type_mismatch(child(pointer, key), value, "a string")
            return None
        return value

    def integer(
        self, obj: JsonObject, key: str, pointer: str, *, required: bool = False, minimum: int = 0
    ) -> int | None:
        """`obj[key]` if it is an integer of at least `minimum`."""
        value = obj.get(key)
        if value is None:
            if required:
                self.missing(pointer, key)
            return None
        number = as_int(value)
        if number is None:
            self.type_mismatch(child(pointer, key), value, "an integer")
            return None
        if number < minimum:
            self.issues.error("VALUE_OUT_OF_RANGE", f"{echo(number)} is less than {minimum}.", child(pointer, key))
            return None
        if number > MAX_SAFE_INTEGER:
            self.issues.error(
                "VALUE_OUT_OF_RANGE",
                f"{echo(number)} is more than {MAX_SAFE_INTEGER}, the largest integer a browser reads exactly.",
                child(pointer, key),
            )
            return None
        return number

    def index(self, obj: JsonObject, key: str, pointer: str, collection: str, *, required: bool = False) -> int | None:
        """`obj[key]` if it is a valid index into the top-level array `collection`."""
        number = self.integer(obj, key, pointer, required=required)
        if number is None:
            return None
        return self.check_index(number, pointer, key, collection)

    def check_index(self, number: int, pointer: str, key: str | int, collection: str) -> int | None:
        """`number` (found at `pointer`/`key`) if it indexes an element of the top-level array `collection`."""
        size = self.count(collection)
        if not 0 <= number < size:
            self.issues.error(
                "INDEX_OUT_OF_RANGE",
                f"{echo(number)} is not an index of {collection} ({size} elements).",
                child(pointer, key),
            )
            return None
        return number

    def index_list(self, obj: JsonObject, key: str, pointer: str, collection: str) -> list[tuple[int, int]]:
        """The valid indices into `collection` listed in `obj[key]`, each with its position in the list."""
        found: list[tuple[int, int]] = []
        size = self.count(collection)
        for position, value in enumerate(self.array(obj, key, pointer)):
            number = as_int(value)
            if number is not None and 0 <= number < size:
                found.append((position, number))
            elif number is None:
                self.type_mismatch(child(child(pointer, key), position), value, "an integer")
            else:
                self.check_index(number, child(pointer, key), position, collection)
        return found

    def missing(self, pointer: str, key: str) -> None:
        """Report a required member that is absent."""
        self.issues.error("REQUIRED_PROPERTY_MISSING", f"Required property '{key}' is missing.", child(pointer, key))

    def type_mismatch(self, pointer: str, value: object, expected: str) -> None:
        """Report a member of the wrong JSON type."""
        self.issues.error("TYPE_MISMATCH", f"Expected {expected}, found {type_name(value)}.", pointer)
