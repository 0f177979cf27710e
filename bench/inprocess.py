"""In-process cost: what one request costs when a test talks to the app with no sockets, and how
many state-machine steps a second the contract suites run. A benchmark, not a test.

    python bench/inprocess.py [--requests 3000] [--json]

- `SyncASGITransport`: a sync `httpx.Client` (what most test suites use), per request, in µs;
- `ASGITransport`: an async `httpx.AsyncClient`, per request, in µs;
- app only: the ASGI app called directly with a prepared scope (no httpx): mockwise's own share;
- contract suites: `run_contracts` with the reference client (`mockwise.contracts.reference:factory`), the
  default budget (30 stories of up to 20 steps, then shrinking), `report.steps_per_second`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from mockwise import Sandbox, create_app
from mockwise._transport.inprocess import ASGITransport, SyncASGITransport

BASE = "https://api.wise-sandbox.com"
FORM = {"grant_type": "client_credentials"}


class Setup:
    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.tenant, creds = self.sandbox.create_tenant()
        self.app = create_app(self.sandbox)
        client = creds.clients[0]
        self.auth = (client["client_id"], client["client_secret"])
        user = next(u for u in creds.users if u.get("registration_code"))
        with httpx.Client(transport=SyncASGITransport(self.app), base_url=BASE) as http:
            answer = http.post(
                "/oauth/token",
                auth=self.auth,
                data={
                    "grant_type": "registration_code",
                    "client_id": client["client_id"],
                    "email": user["email"],
                    "registration_code": user["registration_code"],
                },
            )
        self.user_token = answer.json()["access_token"]


def _per_request_us(count: int, call: Callable[[], Any]) -> float:
    for _ in range(min(200, count)):  # warm-up
        call()
    began = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - began) / count * 1e6


def sync_transport(setup: Setup, count: int) -> dict[str, float]:
    me = {"Authorization": f"Bearer {setup.user_token}"}
    with httpx.Client(transport=SyncASGITransport(setup.app), base_url=BASE) as http:
        token = _per_request_us(count, lambda: _ok(http.post("/oauth/token", auth=setup.auth, data=FORM)))
        user = _per_request_us(count, lambda: _ok(http.get("/v1/me", headers=me)))
    return {"token_us": round(token, 1), "me_us": round(user, 1)}


def async_transport(setup: Setup, count: int) -> dict[str, float]:
    me = {"Authorization": f"Bearer {setup.user_token}"}

    async def measure() -> dict[str, float]:
        async with httpx.AsyncClient(transport=ASGITransport(setup.app), base_url=BASE) as http:
            result = {}
            for name, send in (
                ("token_us", lambda: http.post("/oauth/token", auth=setup.auth, data=FORM)),
                ("me_us", lambda: http.get("/v1/me", headers=me)),
            ):
                for _ in range(min(200, count)):
                    _ok(await send())
                began = time.perf_counter()
                for _ in range(count):
                    _ok(await send())
                result[name] = round((time.perf_counter() - began) / count * 1e6, 1)
            return result

    return asyncio.run(measure())


def app_only(setup: Setup, count: int) -> dict[str, float]:
    """The ASGI app called directly: no httpx, no transport."""
    basic = "Basic " + base64.b64encode(":".join(setup.auth).encode()).decode()
    body = b"grant_type=client_credentials"
    token_headers = [
        (b"host", b"api.wise-sandbox.com"),
        (b"authorization", basic.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
    ]
    me_headers = [
        (b"host", b"api.wise-sandbox.com"),
        (b"authorization", f"Bearer {setup.user_token}".encode()),
    ]

    async def measure() -> dict[str, float]:
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        async def call(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": method,
                "scheme": "https",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 50000),
                "server": ("api.wise-sandbox.com", 443),
            }
            await setup.app(scope, receive, send)

        result = {}
        for name, args in (
            ("token_us", ("POST", "/oauth/token", token_headers)),
            ("me_us", ("GET", "/v1/me", me_headers)),
        ):
            for _ in range(min(200, count)):
                await call(*args)
            status.clear()
            began = time.perf_counter()
            for _ in range(count):
                await call(*args)
            result[name] = round((time.perf_counter() - began) / count * 1e6, 1)
            if set(status) != {200}:
                raise RuntimeError(f"app only: unexpected statuses {sorted(set(status))}")
        return result

    return asyncio.run(measure())


def contract_steps() -> dict[str, float]:
    from mockwise.contracts.runner import python_client, run_contracts

    report = run_contracts(*python_client("mockwise.contracts.reference:factory"), name="reference")
    return {
        "steps": report.steps,
        "stories": report.examples,
        "seconds": round(report.seconds, 2),
        "steps_per_second": round(report.steps_per_second, 1),
        "all_kept": report.passed,
    }


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")
    return response


def measure(count: int = 3000, contracts: bool = True) -> dict[str, Any]:
    setup = Setup()
    result: dict[str, Any] = {
        "requests": count,
        "sync_transport": sync_transport(setup, count),
        "async_transport": async_transport(setup, count),
        "app_only": app_only(setup, count),
    }
    if contracts:
        result["contracts"] = contract_steps()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--no-contracts", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.requests, contracts=not args.no_contracts)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"in-process, per request (µs), {args.requests} requests each:")
    print(f"{'':26} {'POST /oauth/token':>18} {'GET /v1/me':>11}")
    for name, label in (
        ("sync_transport", "httpx + SyncASGITransport"),
        ("async_transport", "httpx + ASGITransport"),
        ("app_only", "ASGI app only"),
    ):
        row = result[name]
        print(f"{label:26} {row['token_us']:>18} {row['me_us']:>11}")
    if "contracts" in result:
        c = result["contracts"]
        print(
            f"contract suites (reference client): {c['steps_per_second']} steps/s "
            f"({c['steps']} steps, {c['stories']} stories in {c['seconds']} s)"
        )


if __name__ == "__main__":
    main()
