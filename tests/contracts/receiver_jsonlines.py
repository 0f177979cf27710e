"""A webhook receiver in another process, speaking the receiver suite's JSON lines
(`mockwise.contracts.receiver.jsonlines`): the reference receiver's logic behind the protocol, its
deliveries coming through the `webhook` operation (examples/webhook_receiver.py --suite is the other
way: its own HTTPS server, at the URL it names).

    python tests/contracts/receiver_jsonlines.py
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from typing import Any

from mockwise.contracts.receiver.adapter import ReceiverConfig
from mockwise.contracts.receiver.reference import ReferenceReceiver


def main() -> int:
    config = ReceiverConfig.from_environment()
    receiver = ReferenceReceiver(config)
    out = threading.Lock()

    def answer(message: dict[str, Any]) -> None:
        with out:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def webhook(ident: int, request: dict[str, Any]) -> None:  # in a thread: a slow one holds up no other
        status = receiver.webhook(request["headers"], base64.b64decode(request["body"]))
        answer({"id": ident, "status": status})

    for line in sys.stdin:
        request = json.loads(line)
        ident, op = request["id"], request["op"]
        if op == "webhook":
            threading.Thread(target=webhook, args=(ident, request), daemon=True).start()
        elif op == "webhook_url":
            answer({"id": ident, "url": None})
        elif op == "transfer_state":
            answer({"id": ident, "state": receiver.transfer_state(int(request["transfer_id"]))})
        elif op == "notices":
            answer({"id": ident, "notices": receiver.notices()})
        elif op == "processing":
            receiver.processing(float(request["seconds"]))
            answer({"id": ident, "ok": True})
        elif op == "idle":
            answer({"id": ident, "idle": receiver.idle(float(request["timeout"]))})
        elif op == "close":
            receiver.close()
            answer({"id": ident, "ok": True})
            return 0
        else:
            answer({"id": ident, "error": f"unknown op {op!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
