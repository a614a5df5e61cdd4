"""Throughput benchmarks: our publish and consume paths against bare kombu, in one run.

Run with `make bench`. Every figure is printed as a rate and as a ratio to a raw baseline
measured in the same run on the same broker, so results compare across machines.
"""
