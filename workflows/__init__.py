"""Temporal workflows: orchestration only (no I/O), reading the pure ``domain`` package."""
