"""The audit store: hash-chained records of recommendations, on SQLite or PostgreSQL.

Rooms: `chain` (hashing and verification), `record` (what a record holds besides the encoded
result: the rule files, the tool's version, its case on another rule base), `backend` (the
store interface) with `sqlite` and `postgres`, `migrations`, `store` (the logic on top of a back
end), `signing` and `trust` (signatures and checkpoints) and `replay`.

Import from the rooms themselves: the package imports none of them, so a command pays only
for the rooms it uses.
"""
