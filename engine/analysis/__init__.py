"""Three-valued analysis: partial evaluation, and on it the decision diagram, the consultation,
explanations, verification (`rules check`, `rules diff`), the proof of the declared invariants
and what those share about regions of cases."""
