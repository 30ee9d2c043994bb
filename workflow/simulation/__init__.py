"""The policy-impact simulator's pure parts: the workload as values, its seeded sampling, and the aggregation.

Nothing here touches a database or a clock; the runner (simulator/runner.py) drives the bus with what this yields.
"""
