"""Benchmarks: our flows on the local backend, and side by side with peers on a fake Graph."""
