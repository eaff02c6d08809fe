"""Settings: the one pydantic-settings class every process reads."""
