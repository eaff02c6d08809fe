"""The SQL store: the projection that lists, searches and reports read (Temporal is the truth)."""
