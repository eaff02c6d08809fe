"""Operations on the running system: archive catch-up, reconciliation, export, log verification.

Each module is a command of ``starter.py``; they may import the domain, the store, the
activities' helpers and the Temporal client (they sit beside ``worker.py`` in the layering).
"""
