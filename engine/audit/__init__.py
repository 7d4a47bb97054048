"""The audit store: hash-chained records of recommendations, on SQLite or PostgreSQL.

Rooms: `chain` (hashing and verification), `codec` (results to record bodies and back),
`backend` (the store interface) with `sqlite` and `postgres`, `migrations`, `store` (the
logic on top of a back end) and `replay`.

Import from the rooms themselves: the package imports none of them, so a command pays only
for the rooms it uses.
"""
