"""Test machinery shared by the tests, `make demo` and `make bench`: real servers and hosts, started and stopped.

Run `python -m harness --help` (with tests/ on PYTHONPATH) to start any piece by hand.
"""
