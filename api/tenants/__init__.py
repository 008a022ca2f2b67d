"""Tenant settings: read with billing.read, change with billing.admin (audited)."""
