"""Reversals: a new entry that exactly negates an earlier one, linked both ways."""
