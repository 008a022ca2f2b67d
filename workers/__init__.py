"""Celery workers: thin tasks over domain functions."""
