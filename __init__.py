"""llm-advisor: an expert system that recommends how to adapt a large language model.

The one import package. Its sub-packages live in the repository's top-level folders:
`engine` (the domain-neutral core), `cli` (the command line), `diagrams` (renderers) and
`rules` (the shipped knowledge base, as YAML package data).
"""

__version__ = "0.2.0"
