"""The rule language: YAML source, validation, normal form, strata, the typed model."""
