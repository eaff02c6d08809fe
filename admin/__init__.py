"""The staff-facing admin: JSON API and web UI over the domain, the store and Temporal."""
