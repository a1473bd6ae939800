"""The example plugin distribution is installed and imported by tests/test_plugins.py, never
collected: its ``broken`` module raises at import on purpose (and --doctest-modules would
import it)."""

collect_ignore_glob = ["*"]
