"""The Matrix Client-Server load generator: `python -m bench.loadgen --help`."""
