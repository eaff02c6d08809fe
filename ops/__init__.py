"""Operations on the running system: archive catch-up, reconciliation, export, log verification.

Each module is a command of ``starter.py``; they may import the domain, the store and the
Temporal client (``temporal_client``), never ``activities`` or ``workflows``.
"""
