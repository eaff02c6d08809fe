"""Talking to Temporal: connecting (with the payload codec), reading and archiving histories."""
