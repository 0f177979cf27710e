"""A webhook receiver in another process, speaking the receiver suite's JSON lines
(`mockwise.contracts.receiver.jsonlines`): the reference receiver's logic behind the protocol, as a
receiver in Node or Java would put its own. With `--serve` it also serves HTTPS on a free port
(the configuration's certificate, from the sandbox CA) and names that URL, so the sandbox delivers
over a real socket instead of through the `webhook` operation.

    python tests/contracts/receiver_jsonlines.py [--serve]
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mockwise.contracts.receiver.adapter import ReceiverConfig
from mockwise.contracts.receiver.reference import ReferenceReceiver


def serve_https(receiver: ReferenceReceiver, config: ReceiverConfig) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.webhook(dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config.server_cert, config.server_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"https://localhost:{server.server_address[1]}/wise/webhooks"


def main() -> int:
    config = ReceiverConfig.from_environment()
    receiver = ReferenceReceiver(config)
    url = serve_https(receiver, config) if "--serve" in sys.argv else None
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
        if op == "webhook" and url is not None:  # served over HTTPS: deliveries must come there
            answer({"id": ident, "status": 503})
        elif op == "webhook":
            threading.Thread(target=webhook, args=(ident, request), daemon=True).start()
        elif op == "webhook_url":
            answer({"id": ident, "url": url})
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
