"""Manual adjustments end to end."""
