"""The tiler's outside world: slides (OpenSlide), models, the TILES stream, output ledgers."""
