"""The PostgreSQL read models: written by the projector, read by the gateway."""


def percent(done: int, total: int) -> float:
    """A job's progress in percent, as the API shows it; 0 while nothing is planned."""
    return round(100.0 * done / total, 2) if total > 0 else 0.0
