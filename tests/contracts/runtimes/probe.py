"""A long-lived Python client's clocks under libfaketime (tests/contracts/test_runtimes.py): one
JSON line per command on stdin. "probe": the clocks and how long waits take; "arm": a timer of 3 s
on the monotonic clock; "timer": whether it fired, and after how long."""

import json
import sys
import threading
import time

from mockwise.contracts.subprocess_driver import safe_sleep_under_faketime

patched = safe_sleep_under_faketime()
armed = {"at": 0.0, "fired": None}


def took(wait):
    started = time.monotonic()
    wait()
    return round(1000 * (time.monotonic() - started))


def fire():
    armed["fired"] = round(1000 * (time.monotonic() - armed["at"]))


for line in sys.stdin:
    command = line.strip()
    if command == "probe":
        answer = {
            "wall": time.time(),
            "mono": time.monotonic(),
            "sleep": took(lambda: time.sleep(0.2)),
            "wait": took(lambda: threading.Event().wait(0.2)),
            "sleep_replaced": patched,
        }
    elif command == "arm":
        armed.update(at=time.monotonic(), fired=None)
        threading.Timer(3.0, fire).start()
        answer = {"armed": True}
    else:
        answer = {"fired": armed["fired"]}
    print(json.dumps(answer), flush=True)
