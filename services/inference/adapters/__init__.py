"""The inference worker's outside world: models (torch), slides (OpenSlide), the RESULTS stream."""
