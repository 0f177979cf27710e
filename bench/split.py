"""Where a request's CPU goes: the server's event-loop thread sampled by `py-spy` (native frames
included) while it is kept busy, each sample put in one part. A benchmark, not a test.

    python bench/split.py [--seconds 5] [--json]

Needs py-spy (`pip install py-spy`); without it `run.py` leaves the split out and says so.

The parts, decided for each sample from its whole stack:
- gc: the cyclic garbage collector is running (`gc_collect_main` anywhere in the stack), whoever
  allocated when it started;
- store: the state store (`mockwise/_store/`, SQLite) anywhere in the stack, its JSON rows included;
- otherwise the deepest frame that names one of render (the answer's JSON, its timestamps,
  `mockwise/_http/responses.py`), parse (httptools and uvicorn's parser callbacks, the form, the
  Authorization header) or transport (uvloop's stream, reads and writes, the protocol's
  write path and task start), and app for the rest (routing, the edge, the domain: grants, secrets,
  tokens, the journal).

Samples where the loop waits for the network (`epoll_wait`) are left out: the figures are shares
of the loop's busy time. A sampler's figures are shares, good to a few percent at a few thousand
samples; the machine's load does not move them the way it moves requests per second.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cpu import FORM, Target, drive, target
from servers import Mockwise

HERE = Path(__file__).resolve().parent
PARTS = ("store", "gc", "render", "parse", "transport", "app")

_GC = re.compile(r"^(gc_collect_main|gc_collect_with_callback|gc_collect_generations) ")
_STORE = re.compile(r"mockwise/_store/|sqlite3|libsqlite")
_DEEPEST = [  # the first that matches a frame, from the leaf up, names the part
    (
        "render",
        re.compile(
            r"mockwise/_http/(responses|render)\.py|starlette/responses\.py|_json\.c|_json\.cpython"
            r"|^(compact_json|iso_millis|iso_nanos)[ .]"
        ),
    ),
    (
        "parse",
        re.compile(
            r"mockwise/_http/(forms|auth)\.py|httptools/|llhttp|parser\.c"
            r"|^(HttpToolsProtocol|WiseProtocol)\.(on_message_begin|on_url|on_header|on_headers_complete"
            r"|on_body|on_message_complete|data_received) "
        ),
    ),
    (
        "transport",
        re.compile(
            r"^UVStream|^UVTransport|^uv__|^(write|writev|read|recv|send|sendmsg) \(libc"
            r"|^_Writer\.|^WiseProtocol\.|^HttpToolsProtocol\.|^RequestResponseCycle\.send "
        ),
    ),
    ("app", re.compile(r"mockwise/|starlette/|uvicorn/")),
]
_IDLE = re.compile(r"^(epoll_wait|epoll_pwait) ")
_LOOP = "Runner._run_loop"  # the event loop's thread (mockwise/_transport/sockets.py)


def classify(frames: list[str]) -> str | None:
    """The part a sample belongs to; None for an idle loop or another thread."""
    if not any(_LOOP in f for f in frames) or _IDLE.search(frames[-1]):
        return None
    if any(_GC.search(f) for f in frames):
        return "gc"
    if any(_STORE.search(f) for f in frames):
        return "store"
    for frame in reversed(frames):
        for part, pattern in _DEEPEST:
            if pattern.search(frame):
                return part
    return "app"


def split(raw: str) -> dict[str, Any]:
    """Shares of the loop's busy samples per part, from py-spy's raw (collapsed) output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        part = classify(stack.split(";"))
        if part is not None and n.isdigit():
            counts[part] += int(n)
    total = sum(counts.values())
    shares = {p: round(counts[p] / total, 3) if total else 0.0 for p in PARTS}
    return {"samples": total, "shares": shares}


def py_spy() -> str | None:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    return found


def sample(server: Mockwise, t: Target, seconds: float, workdir: Path, rate: int = 250) -> dict[str, Any]:
    """Keep `server` busy with `t` (32 connections) while py-spy samples it for `seconds`."""
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    out = workdir / f"spy-{server.process.pid}-{time.monotonic_ns()}.txt"
    drive(t, 500, 32)  # warm
    command = [
        spy,
        "record",
        "--native",
        "--format",
        "raw",
        "-r",
        str(rate),
        "-d",
        str(max(1, round(seconds))),
    ]
    sampler = subprocess.Popen(
        [*command, "-o", str(out), "-p", str(server.process.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while sampler.poll() is None:
        drive(t, 1000, 32)
    if sampler.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({sampler.returncode}): may it attach (ptrace)?")
    return split(out.read_text(encoding="utf-8", errors="replace"))


def run(seconds: float, workdir: Path) -> dict[str, Any]:
    """The split of a token request (client_credentials) and of `GET /v1/me`, state kept."""
    server = Mockwise(workdir / "split", http=True)
    try:
        server.without_rate_limits()
        token = target(
            server.api_url,
            "POST",
            "/oauth/token",
            {"Content-Type": FORM, "Authorization": server.basic},
            "grant_type=client_credentials",
        )
        me = target(server.api_url, "GET", "/v1/me", {"Authorization": f"Bearer {server.user_token()}"})
        return {
            "token_http": sample(server, token, seconds, workdir),
            "me_http": sample(server, me, seconds, workdir),
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if py_spy() is None:
        print("bench: the split needs py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mockwise-bench-split-") as tmp:
        result = run(args.seconds, Path(tmp))
    if args.json:
        print(json.dumps(result))
        return 0
    print(format_split(result))
    return 0


def format_split(result: dict[str, Any]) -> str:
    lines = [f"{'share of the event loop busy (py-spy)':40} " + " ".join(f"{p:>9}" for p in PARTS)]
    for key, label in (
        ("token_http", "POST /oauth/token, state kept"),
        ("me_http", "GET /v1/me, state kept"),
    ):
        row = result.get(key)
        if row is not None:
            cells = " ".join(f"{row['shares'][p]:>9.1%}" for p in PARTS)
            lines.append(f"{label:40} {cells}   ({row['samples']:,} samples)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
