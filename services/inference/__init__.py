"""Tessera inference service."""
