"""Tessera gateway service."""
