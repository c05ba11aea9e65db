"""Benchmarks and reports: `make bench`, `make safety-report`. Not tests: nothing here asserts."""
