"""`make bench`: the collection measured beside what users would otherwise pick, on this machine, in one run.

Run `python -m bench --help` (with tests/ and the repository root on PYTHONPATH) for the options.
"""
