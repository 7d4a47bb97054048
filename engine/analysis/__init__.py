"""Three-valued analysis: partial evaluation, the decision diagram, consultation, explanation, verification."""
