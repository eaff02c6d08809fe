"""Filing complaints exactly once per intake key, whatever the channel."""
