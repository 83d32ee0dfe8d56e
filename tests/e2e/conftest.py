"""End-to-end tests share the root fixtures (`tests/conftest.py`): the broker, settings and
worker processes that are always stopped by their pid."""
