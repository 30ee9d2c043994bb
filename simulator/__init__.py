"""The policy-impact simulator's runner: a year of a district's workload through the real bus, once per profile.

A driver like the command line: it builds a scratch embedded database per profile with the composition root and
sends the workload's commands through the service bus (docs/simulator.md). Its pure parts (workload values,
sampling, the simulated clock, the report) live in workflow/simulation; the workload files and their loader in
config/. Only the command line runs it; the auditor's page reads the report it leaves.
"""
