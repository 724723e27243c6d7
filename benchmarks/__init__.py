"""Benchmarks of live recognition (run by `manage.py bench_recognition`); not part of the running app.

`video` times our pipeline against the naive one on the single-face clip and photos; `classroom`
plays the classroom set. Paths to the samples are passed in by the command.
"""
