"""Tessera branch-sequencer service."""
