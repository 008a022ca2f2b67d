"""Manual adjustments: the balance brought to the true allowed amount, by contract or rule."""
