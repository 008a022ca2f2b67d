"""Accounts, visits, charge lines and ledger entries: types, queries and the
accountBalance subscription."""
