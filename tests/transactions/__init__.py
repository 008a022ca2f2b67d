"""Practice-management transactions: posting, voiding, defaults, time zones."""
