"""Tessera admission service."""
