"""Tenant settings."""
