"""The fault suite: killed workers and services, duplicates, crashes after commit, and the
model-based test."""
