"""Rete inference: the rule base compiled to durable_rules rulesets and run, the outcome decided
from the firings, and the one JSON encoding of results."""
