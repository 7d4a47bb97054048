"""Knowledge base shipped with llm-advisor: YAML files read by `engine.loader`."""
