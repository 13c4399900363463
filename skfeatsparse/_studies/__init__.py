"""The paper's studies, end to end: shared by the examples, benchmarks and CLI."""
