"""Tenant policy and settings: threshold, reasons, blocking visit states, adjustment
picklist, CARC policy."""
