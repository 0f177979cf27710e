"""A partner's receiver for Wise webhooks, in plain Python (the standard library and `cryptography`).

It does what Wise asks of a receiver (docs/wise-reference.md §8.9):

1. verifies `X-Signature-SHA256` over the raw body with the sandbox's public key, before anything
   else, and refuses what does not verify: no signature, a wrong one, only the legacy
   `X-Signature`, or one made with another key (production's, say);
2. answers at once (2xx within 5 seconds) and does the work afterwards, in a worker thread;
3. acts once per event, however often it is delivered (retries, duplicates);
4. does not act on test notifications (`X-Test-Notification: true`) as real data;
5. keeps each transfer's newest state by `occurred_at`: an older event arriving late changes nothing.

Against `mockwise serve`, from the directory it runs in (the README's "Receive webhooks"):

    .venv/bin/python examples/webhook_receiver.py --port 9443 \\
        --cert .mockwise/server.pem --key .mockwise/server.key \\
        --public-key .mockwise/webhook-public-key.pem

Add `--require-client-cert .mockwise/ca.pem` to accept only deliveries presenting a certificate from
the sandbox CA (a subscription with `"mtls_enabled": true`, reference §8.7).

The receiver suite judges it as it runs, over its own HTTPS port (docs/receiver-contracts.md):

    .venv/bin/python -m mockwise.contracts.receiver \\
        --receiver-cmd "python3 examples/webhook_receiver.py --suite"
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import os
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_BODY = 1024 * 1024  # Wise's notifications are a few hundred bytes


class Receiver:
    """What the partner's system does with notifications, apart from HTTP."""

    def __init__(self, public_key_pem: bytes, say: Callable[[str], None] = print) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("Wise's webhook key is an RSA key")
        self.key = key
        self.say = say
        self.transfers: dict[int, tuple[str, str]] = {}  # transfer id -> (occurred_at, state)
        self.notices: list[dict[str, Any]] = []  # each state change taken: the customer is told once
        self.delay = 0.0  # seconds acting takes (a slow downstream system; the receiver suite sets it)
        self._seen: set[str] = set()  # events already taken (their identity, not the delivery id)
        self._lock = threading.Lock()
        self._work: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._worker, daemon=True).start()

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        signature = {k.lower(): v for k, v in headers.items()}.get("x-signature-sha256")
        if signature is None:  # absent, or only v1's X-Signature (RSA-SHA1): not good enough
            return False
        try:
            self.key.verify(
                base64.b64decode(signature, validate=True), body, padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """One delivery: the status to answer. Quick: the work happens in the worker."""
        lower = {k.lower(): v for k, v in headers.items()}
        delivery = lower.get("x-delivery-id", "?")
        if not self.verified(headers, body):
            self.say(f"refused {delivery}: the signature does not verify with the sandbox key")
            return 401
        try:
            event = json.loads(body)
        except ValueError:
            self.say(f"refused {delivery}: not JSON")
            return 400
        if lower.get("x-test-notification") == "true":
            self.say(f"verified test notification {delivery} ({event.get('event_type')}): not acted on")
            return 200
        identity = hashlib.sha256(
            json.dumps([event.get("event_type"), event.get("data")], sort_keys=True).encode()
        ).hexdigest()
        with self._lock:
            if identity in self._seen:
                self.say(f"verified {delivery}: an event already taken, acknowledged again")
                return 200
            self._seen.add(identity)
        self._work.put(event)
        self.say(f"verified {delivery} ({event.get('event_type')}): queued")
        return 200

    def _worker(self) -> None:
        while True:
            event = self._work.get()
            try:
                time.sleep(self.delay)
                self.act(event)
            except Exception as exc:
                self.say(f"could not act on an event: {exc!r}")
            finally:
                self._work.task_done()

    def idle(self, timeout: float) -> bool:
        """Whether everything received has been acted on (waiting up to `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while self._work.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def act(self, event: dict[str, Any]) -> None:
        """Keep the partner's copy of each transfer's state (Wise recommends it, §8.3)."""
        if event.get("event_type") != "transfers#state-change":
            return
        data = event.get("data") or {}
        transfer, state, at = data["resource"]["id"], data["current_state"], data["occurred_at"]
        with self._lock:
            known = self.transfers.get(transfer)
            if known is not None and _instant(known[0]) >= _instant(at):
                self.say(f"transfer {transfer}: {state} at {at} is older than {known[1]}: ignored")
                return
            self.transfers[transfer] = (at, state)
            self.notices.append({"transfer_id": transfer, "state": state})
        self.say(f"transfer {transfer} is now {state}")


def _instant(timestamp: str) -> tuple[str, str]:
    """A sortable form of Wise's timestamps, with or without milliseconds (schema 4.0.0 has them)."""
    stamp = timestamp.rstrip("Z")
    seconds, _, fraction = stamp.partition(".")
    return seconds, fraction.ljust(9, "0")


def serve(
    receiver: Receiver, port: int, cert: str, key: str, client_ca: str | None = None
) -> ThreadingHTTPServer:
    """The receiver on HTTPS, at https://localhost:<port>/<any path> (TLS 1.2+)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            status = receiver.receive(dict(self.headers), self.rfile.read(length))  # the raw bytes
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the receiver says what it did

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # the handshake happens in the request's own thread, not while accepting the next connection
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


def suite() -> int:
    """Speak the receiver suite's JSON lines on stdin and stdout (`--suite`): serve HTTPS on a free
    port with the certificate it is given, name that URL, and answer what the suite asks."""
    config = json.loads(Path(os.environ["MOCKWISE_CONFIG"]).read_text(encoding="utf-8"))
    receiver = Receiver(
        Path(config["webhook_public_key"]).read_bytes(), say=lambda line: print(line, file=sys.stderr)
    )
    server = serve(receiver, 0, config["server_cert"], config["server_key"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/wise/webhooks"
    for line in sys.stdin:
        request = json.loads(line)
        op, reply = request["op"], {"id": request["id"]}
        if op == "webhook_url":
            reply["url"] = url
        elif op == "transfer_state":
            known = receiver.transfers.get(int(request["transfer_id"]))
            reply["state"] = known[1] if known else None
        elif op == "notices":
            reply["notices"] = list(receiver.notices)
        elif op == "processing":
            receiver.delay, reply["ok"] = float(request["seconds"]), True
        elif op == "idle":
            reply["idle"] = receiver.idle(float(request["timeout"]))
        elif op == "close":
            reply["ok"] = True
        else:
            reply["error"] = f"unknown op {op!r}"
        print(json.dumps(reply), flush=True)
        if op == "close":
            break
    server.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--suite"]:
        return suite()
    parser = argparse.ArgumentParser(description="Receive Wise webhooks and verify them.")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--cert", required=True, help="the server certificate (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument("--public-key", required=True, help="the key notifications are signed with")
    parser.add_argument("--require-client-cert", metavar="CA", help="mTLS: accept only this CA's clients")
    args = parser.parse_args(argv)
    receiver = Receiver(Path(args.public_key).read_bytes(), say=lambda line: print(line, flush=True))
    server = serve(receiver, args.port, args.cert, args.key, args.require_client_cert)
    print(f"receiving on https://localhost:{server.server_address[1]}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
