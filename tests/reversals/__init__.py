"""Reversals end to end."""
