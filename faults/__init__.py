"""Fault injection: complaints carried through complete journeys on real processes while parts fail.

``python -m faults`` (``make faults``) starts, per scenario, the Temporal dev server, the mail
catcher, the worker and the admin exactly as an operator does (free ports, a temporary
directory, configuration by environment variables only), drives complaints through the JSON
API while one kind of fault is injected, waits for everything to settle and prints one line
of figures per scenario. See ``faults/scenarios.py`` for the faults.
"""
