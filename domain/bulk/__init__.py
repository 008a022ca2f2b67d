"""Bulk jobs: select many rows, plan them into chunk commands, apply each chunk exactly once."""
