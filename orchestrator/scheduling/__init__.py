"""Scheduling: which queued chunk runs on which node, and why the others wait.

Pure policy over a snapshot (`board.Board`) and a time `now`: no clock, no
Ray, no I/O. The live farm (`orchestrator.core.decide.dispatch`) and the
simulator (`simulate`) call the same `policy.plan`. Nothing is imported
here so that the core can import single modules without cycles.
"""
