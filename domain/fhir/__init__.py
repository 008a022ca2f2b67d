"""Reads for the FHIR export: an account with its balances by who owes them and how old."""
