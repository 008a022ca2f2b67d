"""Remittances (X12 835): importing a file (a multipart upload or text), posting one held for
review, reversing one, and reading them with their claims, lines and adjustments.

The work is `domain.remittances`: an import parses, balances, matches and stores the file and
starts posting each balanced remittance as a bulk job (kind REMITTANCE), which clients follow
with the `bulkJob(id)` subscription.
"""
