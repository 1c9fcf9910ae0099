"""The merger's outside world: the attempts' output folders (Zarr, Parquet, GeoJSON, JSON)."""
