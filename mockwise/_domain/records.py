"""State as data: a record (a dataclass of the domain) to plain JSON values and back, with every
field's type checked on the way in.

A tenant's parts save and restore themselves through these two functions (`Part.snapshot`,
`Part.restore` in `mockwise._domain.context`), so what a state store writes and what a reset goes
back to is data with named, typed fields, never bytes that choose what to call (pickle did):

- `to_data(value)`: dataclasses become objects of their fields, enums their values, dates ISO
  strings, bytes hex, tuples and sets lists, dict keys strings;
- `from_data(kind, data, where)`: `data` read back as `kind` (a type hint: a dataclass, `int`,
  `str | None`, `dict[int, Attempts]`, `tuple[str, ...]`, a `Literal` or an enum...). A field it
  does not know, a field missing, or a value of the wrong type raises `RecordError`, one line
  naming where (`linking.login_attempts['a@example.com'].failures: expected int, got str`).
  A record is made by calling its class, so its own checks (`__post_init__`) run too.

A field that is not data itself names its codec in its metadata (`field(metadata=codec(...))`,
e.g. a JWK kept as its PEM); a field with `init=False` is derived and not kept.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal, Union, get_args, get_origin

JSON = Any  # None, bool, int, float, str, list of JSON, dict of str to JSON

CODEC = "mockwise.data"  # the metadata key of a field's own codec


class RecordError(ValueError):
    """State that is not a record of the expected shape; the message is one line saying where."""


def codec(encode: Callable[[Any], JSON], decode: Callable[[Any], Any]) -> dict[str, Any]:
    """The metadata of a dataclass field kept as `encode(value)` and read back with
    `decode(data)` (which raises for data it cannot take): `field(metadata=codec(...))`."""
    return {CODEC: (encode, decode)}


def to_data(value: Any) -> JSON:
    """`value` as plain JSON values (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for item in _fields(type(value)):
            field_value = getattr(value, item.name)
            codec = item.metadata.get(CODEC)
            out[item.name] = codec[0](field_value) if codec is not None else to_data(field_value)
        return out
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k.value if isinstance(k, enum.Enum) else k): to_data(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(to_data(v) for v in value)
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__"):
        return [to_data(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not state a record can hold")


def from_data(kind: Any, data: JSON, where: str) -> Any:
    """`data` read back as `kind`; RecordError naming `where` when it is not one."""
    return _reader(kind)(data, where)


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


Reader = Callable[[JSON, str], Any]


def _fail(where: str, expected: str, data: JSON) -> RecordError:
    shown = type(data).__name__ if data is not None else "null"
    return RecordError(f"{where}: expected {expected}, got {shown}")


@functools.cache
def _reader(kind: Any) -> Reader:
    """A function reading data as `kind`, made once per type."""
    if kind is Any:
        return lambda data, where: data
    if kind is type(None):
        return _exactly(type(None), "null")
    if kind is bool:
        return _exactly(bool, "a boolean")
    if kind is int:
        return _exactly(int, "a whole number")
    if kind is str:
        return _exactly(str, "a string")
    if kind is float:
        return _float
    if kind is bytes:
        return _bytes
    if kind is date:
        return _date
    origin, args = get_origin(kind), get_args(kind)
    if origin is Union or origin is types.UnionType:
        return _union(tuple(_reader(a) for a in args), " or ".join(_name(a) for a in args))
    if origin is Literal:
        return _literal(args)
    if origin in (list, tuple, set, frozenset) or kind in (list, tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _fixed_tuple(tuple(_reader(a) for a in args))
        item = _reader(args[0]) if args else _reader(Any)
        make: Callable[[Any], Any] = origin or kind
        return _sequence(item, make)
    if origin is dict or kind is dict:
        keys, values = args if args else (str, Any)
        return _mapping(_key_reader(keys), _reader(values))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _enum(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _record(kind)
    raise TypeError(f"no reader for {kind!r}")


def _name(kind: Any) -> str:
    return "null" if kind is type(None) else getattr(kind, "__name__", str(kind))


def _exactly(kind: type, expected: str) -> Reader:
    def read(data: JSON, where: str) -> Any:
        if type(data) is not kind:  # bool is an int to isinstance: not here
            raise _fail(where, expected, data)
        return data

    return read


def _float(data: JSON, where: str) -> float:
    if type(data) is float:
        return data
    if type(data) is int:
        return float(data)
    raise _fail(where, "a number", data)


def _bytes(data: JSON, where: str) -> bytes:
    if isinstance(data, str):
        try:
            return bytes.fromhex(data)
        except ValueError:
            pass
    raise _fail(where, "hex bytes", data)


def _date(data: JSON, where: str) -> date:
    if isinstance(data, str):
        try:
            return date.fromisoformat(data)
        except ValueError:
            pass
    raise _fail(where, "a date (YYYY-MM-DD)", data)


def _union(readers: tuple[Reader, ...], expected: str) -> Reader:
    def read(data: JSON, where: str) -> Any:
        for reader in readers:
            try:
                return reader(data, where)
            except RecordError:
                continue
        raise _fail(where, expected, data)

    return read


def _literal(choices: tuple[Any, ...]) -> Reader:
    def read(data: JSON, where: str) -> Any:
        for choice in choices:
            if data == choice and type(data) is type(choice):
                return choice
        raise RecordError(f"{where}: expected one of {', '.join(map(repr, choices))}, got {data!r:.40}")

    return read


def _enum(kind: type[enum.Enum]) -> Reader:
    def read(data: JSON, where: str) -> Any:
        try:
            return kind(data)
        except ValueError:
            raise RecordError(f"{where}: {data!r:.40} is not a {kind.__name__}") from None

    return read


def _sequence(item: Reader, make: Callable[[Any], Any]) -> Reader:
    def read(data: JSON, where: str) -> Any:
        if not isinstance(data, list):
            raise _fail(where, "a list", data)
        return make(item(v, f"{where}[{i}]") for i, v in enumerate(data))

    return read


def _fixed_tuple(items: tuple[Reader, ...]) -> Reader:
    def read(data: JSON, where: str) -> Any:
        if not isinstance(data, list) or len(data) != len(items):
            raise _fail(where, f"a list of {len(items)}", data)
        return tuple(r(v, f"{where}[{i}]") for i, (r, v) in enumerate(zip(items, data, strict=True)))

    return read


def _key_reader(kind: Any) -> Callable[[str, str], Any]:
    """Keys are strings in JSON: an int key (a user id) is read back from its digits."""
    if kind is int:

        def read_int(key: str, where: str) -> int:
            if key.isascii() and key.lstrip("-").isdigit():
                return int(key)
            raise RecordError(f"{where}: key {key!r:.40} is not a whole number")

        return read_int
    reader = _reader(kind)
    return reader


def _mapping(key: Callable[[str, str], Any], value: Reader) -> Reader:
    def read(data: JSON, where: str) -> Any:
        if not isinstance(data, dict):
            raise _fail(where, "an object", data)
        return {key(k, where): value(v, f"{where}[{k!r}]") for k, v in data.items()}

    return read


def _record(cls: type) -> Reader:
    hints = _hints(cls)
    fields = _fields(cls)
    readers: dict[str, Reader] = {}
    for item in fields:
        codec = item.metadata.get(CODEC)
        readers[item.name] = _decoded(codec[1]) if codec is not None else _reader(hints[item.name])
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    name = cls.__name__

    def read(data: JSON, where: str) -> Any:
        if not isinstance(data, dict):
            raise _fail(where, f"a {name} (an object)", data)
        unknown = data.keys() - readers.keys()
        if unknown:
            raise RecordError(f"{where}: {name} has no field {sorted(unknown)[0]!r}")
        missing = required - data.keys()
        if missing:
            raise RecordError(f"{where}: {name} field {sorted(missing)[0]!r} is missing")
        values = {k: readers[k](v, f"{where}.{k}") for k, v in data.items()}
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:  # the record's own checks
            raise RecordError(f"{where}: {exc}") from None

    return read


def _decoded(decode: Callable[[Any], Any]) -> Reader:
    def read(data: JSON, where: str) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # a library's own error types (jwcrypto, cryptography) included
            raise RecordError(f"{where}: {exc}") from None

    return read
