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
import json
import json.encoder
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal, Union, get_args, get_origin

JSON = Any  # None, bool, int, float, str, list of JSON, dict of str to JSON

CODEC = "mockwise.data"  # the metadata key of a field's own codec


def compact_json(*, check_circular: bool = True) -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False)`, as a function made once:
    `JSONEncoder.encode` builds its C encoder again on every call, a third of the cost of
    encoding a token answer. Values a JSONEncoder would refuse are refused the same way."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=check_circular)
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # private, not in the stubs
    if make is None:  # an interpreter without the C accelerator
        return encoder.encode
    markers: dict[int, Any] | None = {} if check_circular else None
    encode = make(
        markers,
        encoder.default,
        json.encoder.encode_basestring,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    join = "".join

    def dumps(value: Any) -> str:
        try:
            return join(encode(value, 0))
        except BaseException:
            if markers:  # what a failed call left: a later value must not be taken for a cycle
                markers.clear()
            raise

    return dumps


class RecordError(ValueError):
    """State that is not a record of the expected shape; the message is one line saying where."""


def codec(encode: Callable[[Any], JSON], decode: Callable[[Any], Any]) -> dict[str, Any]:
    """The metadata of a dataclass field kept as `encode(value)` and read back with
    `decode(data)` (which raises for data it cannot take): `field(metadata=codec(...))`."""
    return {CODEC: (encode, decode)}


def to_data(value: Any) -> JSON:
    """`value` as plain JSON values (see the module docstring)."""
    encode = _ENCODERS.get(type(value))
    if encode is None:
        encode = _ENCODERS[type(value)] = _encoder(type(value))
    return encode(value)


Encoder = Callable[[Any], JSON]
_ENCODERS: dict[type, Encoder] = {}  # by exact type, made once: a snapshot is taken per tenant made


def _same(value: Any) -> JSON:
    return value


def _encoder(kind: type) -> Encoder:
    if kind in (type(None), bool, int, float, str):
        return _same
    if issubclass(kind, enum.Enum):
        return _enum_value
    if dataclasses.is_dataclass(kind):
        return _record_encoder(kind)
    if issubclass(kind, date):
        return _iso
    if issubclass(kind, (bytes, bytearray)):
        return _hex
    if issubclass(kind, Mapping):
        return _mapping_data
    if issubclass(kind, (set, frozenset)):
        return _set_data
    if issubclass(kind, (list, tuple)) or hasattr(kind, "__iter__"):
        return _list_data
    raise TypeError(f"{kind.__name__} is not state a record can hold")


def _enum_value(value: enum.Enum) -> JSON:
    return value.value


def _iso(value: date) -> JSON:
    return value.isoformat()


def _hex(value: bytes) -> JSON:
    return value.hex()


def _mapping_data(value: Mapping[Any, Any]) -> JSON:
    return {str(k.value if isinstance(k, enum.Enum) else k): to_data(v) for k, v in value.items()}


def _set_data(value: set[Any]) -> JSON:
    return sorted(to_data(v) for v in value)


def _list_data(value: Any) -> JSON:
    return [to_data(v) for v in value]


def _record_encoder(kind: type) -> Encoder:
    plan = [(f.name, f.metadata[CODEC][0] if CODEC in f.metadata else to_data) for f in _fields(kind)]

    def encode(value: Any) -> JSON:
        return {name: encode_field(getattr(value, name)) for name, encode_field in plan}

    return encode


def from_data(kind: Any, data: JSON, where: str) -> Any:
    """`data` read back as `kind`; RecordError naming `where` (and the field in it) when it is not one."""
    try:
        return _reader(kind)(data)
    except _Bad as bad:
        raise RecordError(f"{where}{bad.path}: {bad.problem}") from None


class _Bad(Exception):
    """What a reader found wrong; each container on the way out puts its part of the path in front
    (so that reading good data builds no path at all)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = ""

    def within(self, segment: str) -> _Bad:
        self.path = segment + self.path
        return self


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


Reader = Callable[[JSON], Any]


def _fail(expected: str, data: JSON) -> _Bad:
    shown = type(data).__name__ if data is not None else "null"
    return _Bad(f"expected {expected}, got {shown}")


@functools.cache
def _reader(kind: Any) -> Reader:
    """A function reading data as `kind`, made once per type."""
    if kind is Any:
        return _same
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
        others = tuple(a for a in args if a is not type(None))
        if len(others) < len(args):  # `X | None`: null is checked first, without trying X
            inner = _reader(others[0] if len(others) == 1 else Union[others])  # noqa: UP007
            return _optional(inner)
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
    def read(data: JSON) -> Any:
        if type(data) is not kind:  # bool is an int to isinstance: not here
            raise _fail(expected, data)
        return data

    return read


def _float(data: JSON) -> float:
    if type(data) is float:
        return data
    if type(data) is int:
        return float(data)
    raise _fail("a number", data)


def _bytes(data: JSON) -> bytes:
    if isinstance(data, str):
        try:
            return bytes.fromhex(data)
        except ValueError:
            pass
    raise _fail("hex bytes", data)


def _date(data: JSON) -> date:
    if isinstance(data, str):
        try:
            return date.fromisoformat(data)
        except ValueError:
            pass
    raise _fail("a date (YYYY-MM-DD)", data)


def _union(readers: tuple[Reader, ...], expected: str) -> Reader:
    def read(data: JSON) -> Any:
        for reader in readers:
            try:
                return reader(data)
            except _Bad:
                continue
        raise _fail(expected, data)

    return read


def _optional(inner: Reader) -> Reader:
    def read(data: JSON) -> Any:
        return None if data is None else inner(data)

    return read


def _literal(choices: tuple[Any, ...]) -> Reader:
    def read(data: JSON) -> Any:
        for choice in choices:
            if data == choice and type(data) is type(choice):
                return choice
        raise _Bad(f"expected one of {', '.join(map(repr, choices))}, got {data!r:.40}")

    return read


def _enum(kind: type[enum.Enum]) -> Reader:
    def read(data: JSON) -> Any:
        try:
            return kind(data)
        except ValueError:
            raise _Bad(f"{data!r:.40} is not a {kind.__name__}") from None

    return read


def _sequence(item: Reader, make: Callable[[Any], Any]) -> Reader:
    def read(data: JSON) -> Any:
        if not isinstance(data, list):
            raise _fail("a list", data)
        try:
            return make([item(v) for v in data])
        except _Bad as bad:  # which item: looked for only now
            index = next(i for i, v in enumerate(data) if _fails(item, v))
            raise bad.within(f"[{index}]") from None

    return read


def _fails(reader: Reader, data: JSON) -> bool:
    try:
        reader(data)
    except _Bad:
        return True
    return False


def _fixed_tuple(items: tuple[Reader, ...]) -> Reader:
    def read(data: JSON) -> Any:
        if not isinstance(data, list) or len(data) != len(items):
            raise _fail(f"a list of {len(items)}", data)
        out = []
        for i, (reader, value) in enumerate(zip(items, data, strict=True)):
            try:
                out.append(reader(value))
            except _Bad as bad:
                raise bad.within(f"[{i}]") from None
        return tuple(out)

    return read


def _key_reader(kind: Any) -> Reader:
    """Keys are strings in JSON: an int key (a user id) is read back from its digits."""
    if kind is int:

        def read_int(key: str) -> int:
            if key.isascii() and key.lstrip("-").isdigit():
                return int(key)
            raise _Bad(f"key {key!r:.40} is not a whole number")

        return read_int
    return _reader(kind)


def _mapping(key: Reader, value: Reader) -> Reader:
    def read(data: JSON) -> Any:
        if not isinstance(data, dict):
            raise _fail("an object", data)
        out = {}
        for k, v in data.items():
            try:
                out[key(k)] = value(v)
            except _Bad as bad:
                raise bad.within(f"[{k!r:.40}]") from None
        return out

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

    def read(data: JSON) -> Any:
        if not isinstance(data, dict):
            raise _fail(f"a {name} (an object)", data)
        unknown = data.keys() - readers.keys()
        if unknown:
            raise _Bad(f"{name} has no field {sorted(map(str, unknown))[0]!r:.40}")
        values = {}
        try:
            for key, value in data.items():
                values[key] = readers[key](value)
        except _Bad as bad:
            raise bad.within(f".{key}") from None
        if len(values) < len(readers):
            missing = required - values.keys()
            if missing:
                raise _Bad(f"{name} field {sorted(missing)[0]!r} is missing")
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:  # the record's own checks
            raise _Bad(str(exc)) from None

    return read


def _decoded(decode: Callable[[Any], Any]) -> Reader:
    def read(data: JSON) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # a library's own error types (jwcrypto, cryptography) included
            raise _Bad(str(exc) or type(exc).__name__) from None

    return read
