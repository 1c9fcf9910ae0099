"""The PostgreSQL read models: written by the projector, read by the gateway."""
