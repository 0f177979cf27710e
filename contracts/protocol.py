"""The JSON-lines protocol of subprocess clients, as a schema both sides are checked against.

`protocol.schema.json` (beside this file) is the one statement of every message: the suite
validates each request it sends and each answer it reads against it, and docs/contracts.md explains
it in words (a test holds the two together). A message that breaks it is reported with the
schema's reason, never guessed at.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = Path(__file__).with_name("protocol.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
#: Each op, and the `$defs` name of the answer it must get.
ANSWERS: dict[str, str] = {k: v for k, v in SCHEMA["x-answers"].items() if k != "description"}
OPS = tuple(ANSWERS)
#: Ops whose answer is an outcome (the business operations).
OUTCOME_OPS = tuple(op for op, answer in ANSWERS.items() if answer == "outcome_answer")


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]})


def problem(name: str, message: Any) -> str | None:
    """Why `message` is not a `name` (a `$defs` entry: "request", "url_answer"...), or None."""
    error = best_match(_validator(name).iter_errors(message))
    if error is None:
        return None
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or 'the message'}: {error.message}"


def request_problem(message: Any) -> str | None:
    """Why `message` is not a request, or None (checked against its op's own schema, whose
    reasons are clearer than the union's)."""
    op = message.get("op") if isinstance(message, dict) else None
    if op not in ANSWERS:
        return f"op: {op!r} is not one of {list(OPS)}"
    return problem(op, message)


def answer_problem(op: str, message: Any) -> str | None:
    """Why `message` is not a valid answer to a request for `op`, or None."""
    return problem(ANSWERS[op], message)
