"""Ed25519 signatures for records and checkpoints (PyCA cryptography).

Keys are kept in the standard PEM forms (PKCS #8 "PRIVATE KEY", SubjectPublicKeyInfo "PUBLIC
KEY"), which OpenSSL reads too; Ed25519's are fixed-size, so they are framed here without
loading cryptography's serialization machinery (it would double the command's start-up cost).
A key is named by its fingerprint, the SHA-256 of its 32 public bytes. The private key stays in
its file and in this process: it is never stored, exported, printed or put into an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llm_advisor.engine.audit.backend import AuditError
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
RECORD_CONTEXT = b"llm-advisor audit record\n"
CHECKPOINT_CONTEXT = b"llm-advisor audit checkpoint\n"


def fingerprint(public: bytes) -> str:
    """A public key's name: SHA-256 of its 32 raw bytes, in hex."""
    return hashlib.sha256(public).hexdigest()


def _pem(label: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"


def _unpem(text: str, label: str, prefix: bytes) -> bytes | None:
    """The 32 key bytes of a PEM block of `label` holding an Ed25519 key, else None."""
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if begin not in text or end not in text:
        return None
    inner = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(inner.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != len(prefix) + 32 or not der.startswith(prefix):
        return None
    return der[len(prefix) :]


def public_key_pem(public: bytes) -> str:
    """A public key as a PEM "PUBLIC KEY" block, for reviewers to keep."""
    return _pem("PUBLIC KEY", _SPKI_PREFIX + public)


def _unreadable(err: OSError | UnicodeDecodeError) -> str:
    """Why a key file could not be read as text, without its content."""
    return err.strerror if isinstance(err, OSError) and err.strerror else "not readable text"


def read_public_key(path: Path) -> bytes:
    """The 32 bytes of an Ed25519 public key file (PEM); anything else → InputError."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"cannot read public key {path}: {_unreadable(err)}", item=str(path)
        ) from None
    public = _unpem(text, "PUBLIC KEY", _SPKI_PREFIX)
    if public is None:
        raise InputError(f"{path} is not an Ed25519 public key (PEM 'PUBLIC KEY')", item=str(path))
    return public


def verify(public: bytes, signature: str, message: bytes) -> bool:
    """Whether `signature` (base64) is `public`'s signature of `message`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(raw, message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def record_message(record_hash: str) -> bytes:
    """What a record's signature covers: its hash, which covers its content and its place."""
    return RECORD_CONTEXT + record_hash.encode()


@dataclass(frozen=True)
class Signer:
    """A private key in memory, with its public half and fingerprint."""

    public: bytes
    _key: Ed25519PrivateKey = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, message: bytes) -> str:
        """The signature of `message`, in base64."""
        return base64.b64encode(self._key.sign(message)).decode()

    def __repr__(self) -> str:
        return f"Signer(fingerprint={self.fingerprint[:16]})"


def _signer(secret: bytes) -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(secret)
    return Signer(key.public_key().public_bytes_raw(), key)


def load_signer(path: Path) -> Signer:
    """The key in a PEM "PRIVATE KEY" file (Ed25519, unencrypted); a problem → AuditError that
    names the file and never its content."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AuditError(f"cannot read the signing key {path}: {_unreadable(err)}") from None
    secret = _unpem(text, "PRIVATE KEY", _PKCS8_PREFIX)
    if secret is None:
        raise AuditError(
            f"the signing key {path} is not an unencrypted Ed25519 private key (PEM 'PRIVATE KEY')"
        )
    return _signer(secret)


def create_signer(path: Path) -> Signer:
    """A new key, written to `path` readable by its owner only (0600); never overwrites."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    secret = Ed25519PrivateKey.generate().private_bytes_raw()
    pem = _pem("PRIVATE KEY", _PKCS8_PREFIX + secret)
    # Written to a private temporary file, then linked into place: another process never
    # sees a half-written key, and an existing key is never replaced.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, pem.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return load_signer(path)  # another process made it first
    except OSError as err:
        raise AuditError(f"cannot create the signing key {path}: {err.strerror or err}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return _signer(secret)
