"""Ledger signatures: every record's hash is signed with an Ed25519 key kept outside the database.

Whoever can write the database can append a record with a correctly computed hash; without the key
they cannot sign it, and `verify` names the first record whose signature is missing or wrong. Ed25519
(RFC 8032, via `cryptography`) rather than HMAC: an auditor verifies with the public key alone and
cannot forge with it.

Key sources, first found wins: `MQ_LEDGER_KEY` (base64 of the 32-byte private seed), the file named by
`MQ_LEDGER_KEY_FILE`, or `<workdir>/ledger.key`, created on first use (mode 0600) so development and
the demo sign too. Production keeps the key in a secret store and passes it in the environment.
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import LedgerError

_RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


class LedgerVerifier:
    """Checks signatures with a public key; `key_id` names the key in records and anchors."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self.public_key = public_key
        self.key_id = hashlib.sha256(public_key.public_bytes(**_RAW)).hexdigest()[:16]

    def valid(self, message: str, signature: str | None) -> bool:
        if not signature:
            return False
        try:
            self.public_key.verify(bytes.fromhex(signature), message.encode())
            return True
        except (InvalidSignature, ValueError):
            return False

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key.public_bytes(**_RAW)).decode()


class LedgerSigner(LedgerVerifier):
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        super().__init__(private_key.public_key())
        self._private_key = private_key

    def sign(self, message: str) -> str:
        return self._private_key.sign(message.encode()).hex()

    @classmethod
    def from_seed_b64(cls, text: str, source: str) -> "LedgerSigner":
        try:
            seed = base64.b64decode(text.strip(), validate=True)
            return cls(Ed25519PrivateKey.from_private_bytes(seed))
        except ValueError as exc:
            raise LedgerError(f"{source}: not a base64 Ed25519 private key of 32 bytes ({exc})") from None

    @classmethod
    def generate(cls) -> "LedgerSigner":
        return cls(Ed25519PrivateKey.generate())

    def seed_b64(self) -> str:
        raw = self._private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        return base64.b64encode(raw).decode()


def load_signer(default_file: Path | None) -> LedgerSigner | None:
    """The signing key from the environment, a key file, or a new key file at `default_file`."""
    if os.environ.get("MQ_LEDGER_KEY"):
        return LedgerSigner.from_seed_b64(os.environ["MQ_LEDGER_KEY"], "MQ_LEDGER_KEY")
    path = Path(os.environ["MQ_LEDGER_KEY_FILE"]) if os.environ.get("MQ_LEDGER_KEY_FILE") else default_file
    if path is None:
        return None
    if path.is_file():
        return LedgerSigner.from_seed_b64(path.read_text(), str(path))
    if os.environ.get("MQ_LEDGER_KEY_FILE"):
        raise LedgerError(f"MQ_LEDGER_KEY_FILE: {path} does not exist")
    signer = LedgerSigner.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.seed_b64() + "\n")
    return signer
