"""The benchmarks behind scripts/bench: the fetch bench, --state-bench and --daemon-bench."""
