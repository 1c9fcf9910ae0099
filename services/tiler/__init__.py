"""Tessera tiler service."""
