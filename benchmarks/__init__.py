"""Benchmarks for advloss (not part of the installed package); see ``benchmarks/README.md``."""
