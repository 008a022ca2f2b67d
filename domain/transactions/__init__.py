"""Practice-management transactions (PY CW BD FC AD AC RF), transaction codes and payer
configuration."""
