"""The standalone server's webhook signing keys on disk (reference §8.4), so that a restart keeps
them: a receiver configured once with the published key keeps verifying.

    webhook-signing.key              the sandbox's signing key (private, mode 0600)
    webhook-production-standin.key   the key standing in for Wise's production one (a fault's)
    webhook-public-key.pem           the signing key's public half: what receivers verify with

A key file that cannot be read is replaced by a new key (receivers must fetch the new public key:
`sandbox.json` names the file, and `GET /_mockwise/webhooks/public-key.pem` serves it).
"""

from __future__ import annotations

from pathlib import Path

from mockwise._domain.webhooks import SigningKeys
from mockwise._pki import write_private

SIGNING_KEY = "webhook-signing.key"
STAND_IN_KEY = "webhook-production-standin.key"
PUBLIC_KEY = "webhook-public-key.pem"


def load_webhook_keys(directory: Path) -> SigningKeys:
    """The keys of earlier runs, or new ones (written at once, private)."""
    directory.mkdir(parents=True, exist_ok=True)
    signing, stand_in = directory / SIGNING_KEY, directory / STAND_IN_KEY
    try:
        return SigningKeys(signing.read_text(encoding="ascii"), stand_in.read_text(encoding="ascii"))
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        keys = SigningKeys()
        write_private(signing, keys.sandbox_pem)
        write_private(stand_in, keys.production_pem)
        return keys


def write_public_key(directory: Path, keys: SigningKeys) -> Path:
    """The public key receivers verify with, beside `sandbox.json`; returns its path."""
    path = directory / PUBLIC_KEY
    if not path.exists() or path.read_text(encoding="ascii") != keys.public_pem:
        path.write_text(keys.public_pem, encoding="ascii")
    return path.resolve()
