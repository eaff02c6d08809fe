"""Pure, deterministic core of the complaint process: models, transitions, SLA policy, ids.

Nothing here does I/O, so the workflow, the activities and the admin UI can all read it.
"""
