"""Bulk jobs: domain, API, subscription, CLI and faults."""
