"""Tessera projector service."""
