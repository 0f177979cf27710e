"""The adapter: what a partner's webhook receiver does, in business terms (reference §8).

The suite never tells a receiver which deliveries are genuine: it delivers notifications, forged
ones among them, and asks afterwards what the partner's system made of them. The business the
receiver keeps is Wise's own advice (§8.3): a copy of each transfer's state, kept up to date from
`transfers#state-change`, and a notice to the customer for each state change it takes in.

A receiver gets its notifications either through `webhook` (in this process, or as the JSON-lines
`webhook` operation of another process: `mockwise.contracts.receiver.jsonlines`), or at an HTTPS
URL it names (`url`), where the sandbox delivers them for real, with any language behind it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ReceiverConfig:
    """What a receiver is configured with. Other languages get it as environment variables
    (`MOCKWISE_WEBHOOK_PUBLIC_KEY`...) or as the JSON file named by `MOCKWISE_CONFIG`."""

    webhook_public_key: str  # PEM file: the sandbox's key, the one to verify with (§8.4)
    webhook_production_key: str  # PEM file: Wise publishes its production key too; never valid here
    ca_cert: str = ""  # PEM file of the sandbox CA: an mTLS receiver trusts it (§8.7)
    server_cert: str = ""  # PEM files a receiver serving HTTPS may use: signed by the sandbox CA,
    server_key: str = ""  # for `localhost` (the sandbox trusts them)

    def environment(self) -> dict[str, str]:
        return {f"MOCKWISE_{k.upper()}": str(v) for k, v in asdict(self).items()}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReceiverConfig:
        env = dict(os.environ if environ is None else environ)
        if "MOCKWISE_CONFIG" in env:
            data = json.loads(Path(env["MOCKWISE_CONFIG"]).read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        return cls(**{name: env.get(f"MOCKWISE_{name.upper()}", "") for name in cls.__dataclass_fields__})

    def public_key_pem(self) -> bytes:
        return Path(self.webhook_public_key).read_bytes()


@runtime_checkable
class WiseReceiver(Protocol):
    """A partner's webhook receiver, driven and questioned by the suite."""

    def url(self) -> str | None:
        """An HTTPS URL to deliver to (the sandbox posts there for real), or None: deliveries come
        through `webhook`."""
        ...

    def webhook(self, headers: Mapping[str, str], body: bytes) -> int:
        """One delivery, exactly as it arrived (the raw body): the HTTP status to answer. Called from
        the sandbox's delivery threads, several at once; the sandbox stops waiting after its
        timeout, as Wise does (§8.5)."""
        ...

    def transfer_state(self, transfer_id: int) -> str | None:
        """What the partner's records say a transfer's state is now (None: never heard of it)."""
        ...

    def notices(self) -> list[dict[str, object]]:
        """Every state change the partner acted on, in order: `{"transfer_id": int, "state": str}`
        (one notice to the customer each)."""
        ...

    def processing(self, seconds: float) -> None:
        """From now on, acting on a notification takes this long (a slow downstream system)."""
        ...

    def idle(self, timeout: float) -> bool:
        """Wait until everything received has been acted on; whether that happened in time."""
        ...

    def close(self) -> None: ...
