"""Trust anchored outside the store: record signatures and signed checkpoints.

The chain alone proves only that no one edited a record without re-hashing. Signatures say who
wrote each record (and catch records forged without the key); a checkpoint, kept elsewhere,
pins the number of records and the head hash, so any rewrite of what it covers is caught, even
one re-signed by a key holder (Certificate Transparency's signed tree heads are the model).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from llm_advisor.engine.audit.backend import AuditError
from llm_advisor.engine.audit.chain import StoredRecord, canonical
from llm_advisor.engine.audit.signing import (
    CHECKPOINT_CONTEXT,
    Signer,
    fingerprint,
    record_message,
    verify,
)
from llm_advisor.engine.audit.store import AuditStore, timestamp
from llm_advisor.engine.errors import InputError

FORMAT = "llm-advisor audit checkpoint 1"


@dataclass(frozen=True)
class SignatureReport:
    """Signed and unsigned records, the keys that signed, or the first record that fails."""

    signed: int
    unsigned: int
    keys: tuple[str, ...]
    problem: str | None = None
    record_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_signatures(
    records: Sequence[StoredRecord], keys: Mapping[str, bytes], *, trusted: bool
) -> SignatureReport:
    """Check every record's signature against `keys` (the reviewer's `trusted` keys, or the
    store's own copy). Records from before signing are counted as unsigned; an unsigned record
    after a signed one is not accepted (a forger could simply leave the signature out)."""
    signed = unsigned = 0
    seen: list[str] = []

    def failed(record: StoredRecord, problem: str) -> SignatureReport:
        return SignatureReport(signed, unsigned, tuple(seen), problem, record.id)

    for record in records:
        try:
            named = record.data.get("signer")
        except AuditError as err:  # a body that is not JSON: the chain check names it too
            return failed(record, str(err))
        if record.signature is None and named is None and record.signer is None:
            if signed:
                return failed(record, f"record {record.id} is unsigned, after signed records")
            unsigned += 1
            continue
        if named != record.signer or record.signature is None or not isinstance(named, str):
            return failed(record, f"record {record.id} names a signer but its signature is missing")
        key = keys.get(named)
        if key is None:
            where = "not by a trusted key" if trusted else "whose public key the store lacks"
            return failed(record, f"record {record.id} is signed by key {named[:16]}, {where}")
        if not verify(key, record.signature, record_message(record.hash)):
            return failed(
                record, f"record {record.id}'s signature (key {named[:16]}) does not match it"
            )
        signed += 1
        if named not in seen:
            seen.append(named)
    return SignatureReport(signed, unsigned, tuple(seen))


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of a store's state: its id, its records up to the head, and when."""

    store_id: str
    records: int
    last_id: str | None
    head: str
    time: str
    public_key: bytes
    signature: str

    @property
    def signer(self) -> str:
        return fingerprint(self.public_key)

    def statement(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "store_id": self.store_id,
            "records": self.records,
            "last_id": self.last_id,
            "head": self.head,
            "time": self.time,
            "public_key": base64.b64encode(self.public_key).decode(),
            "signer": self.signer,
        }

    def to_json(self) -> str:
        return (
            json.dumps({"checkpoint": self.statement(), "signature": self.signature}, indent=2)
            + "\n"
        )

    def message(self) -> bytes:
        """What the signature covers: the statement, as canonical JSON, in its own context."""
        return CHECKPOINT_CONTEXT + canonical(self.statement()).encode()

    def signed_correctly(self) -> bool:
        return verify(self.public_key, self.signature, self.message())

    @classmethod
    def parse(cls, text: str, label: str) -> Checkpoint:
        """A checkpoint file's content; anything malformed → InputError naming `label`."""
        bad = InputError(f"{label} is not an audit checkpoint", item=label)
        try:
            doc = json.loads(text)
            statement, signature = doc["checkpoint"], doc["signature"]
            if statement["format"] != FORMAT or not isinstance(signature, str):
                raise bad
            records = statement["records"]
            if not isinstance(records, int) or isinstance(records, bool) or records < 0:
                raise bad
            fields = [statement[k] for k in ("store_id", "head", "time", "public_key")]
            if not all(isinstance(v, str) for v in fields) or not isinstance(
                statement["last_id"], str | None
            ):
                raise bad
            public = base64.b64decode(statement["public_key"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad from None
        if len(public) != 32:
            raise bad
        return cls(
            store_id=statement["store_id"],
            records=records,
            last_id=statement["last_id"],
            head=statement["head"],
            time=statement["time"],
            public_key=public,
            signature=signature,
        )


def make_checkpoint(store: AuditStore, signer: Signer) -> Checkpoint:
    """Sign the store's current state; a store whose chain is broken gets no checkpoint."""
    with store.snapshot():
        _, head = store.verified()
        store_id = store.store_id()
    unsigned = Checkpoint(
        store_id=store_id,
        records=head.count,
        last_id=head.last_id,
        head=head.hash,
        time=timestamp(datetime.now(UTC)),
        public_key=signer.public,
        signature="",
    )
    return replace(unsigned, signature=signer.sign(unsigned.message()))


@dataclass(frozen=True)
class Extension:
    """Whether the store extends a checkpoint: None, or the problem and the record it names."""

    problem: str | None = None
    record_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_extension(store: AuditStore, checkpoint: Checkpoint, label: str) -> Extension:
    """Whether the store is an append-only extension of `checkpoint`: the record at its
    position carries its hash (the chain links the rest). A checkpoint of another store, or
    one whose signature fails, is refused (InputError naming `label`)."""
    if not checkpoint.signed_correctly():
        raise InputError(f"{label}: the checkpoint's signature does not match it", item=label)
    store_id = store.store_id()
    if checkpoint.store_id != store_id:
        raise InputError(
            f"{label} is a checkpoint of audit store {checkpoint.store_id[:12]}, not of this one"
            f" ({store_id[:12]})",
            item=label,
        )
    if checkpoint.records == 0:
        return Extension()
    record = store.record_at(checkpoint.records - 1)
    if record is None:
        held = store.count()
        return Extension(
            f"records were deleted from the end: the checkpoint covers the first"
            f" {checkpoint.records}, up to record {checkpoint.last_id}; the store holds {held}",
            checkpoint.last_id,
        )
    if record.hash != checkpoint.head or record.id != checkpoint.last_id:
        return Extension(
            f"record {record.id} differs from the checkpoint, which has {checkpoint.last_id}"
            f" (hash {checkpoint.head[:16]}) at position {checkpoint.records - 1}: the records"
            " it covers were rewritten",
            record.id,
        )
    return Extension()
