"""Payload encryption: what keeps personal data out of Temporal's history in clear."""
