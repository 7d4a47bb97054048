"""Rete inference: the rule base compiled to durable_rules rulesets, and run."""
