"""Tessera merger service."""
