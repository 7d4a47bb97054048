"""The `llm-advisor` command line: parses arguments, calls the engine, prints."""
