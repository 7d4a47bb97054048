"""The knowledge base shipped with llm-advisor: YAML files read by `llm_advisor.engine.language.loader`."""
