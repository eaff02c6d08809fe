"""``make bench``: the product measured against the engine's own floor (figures, not tests).

Kept import-free: the floor workflow lives in ``bench.floor`` and is re-imported inside the
workflow sandbox, which imports this package first.
"""
