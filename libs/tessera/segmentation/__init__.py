"""Cell segmentation with InstanSeg: model selection, inference, and the bundled model's training.

Modules, one concept each:

- `registry`: a model setting (`auto`, a published name, `bundled`, a path) -> loaded model,
  name and sha256; `load_model` is async and never blocks the event loop.
- `predict`: the batched forward (uint8 tiles + per-slide stats -> int32 labels).
- `normalisation`: per-slide percentile statistics.
- `synthetic`, `nucls`: training data (procedural tiles; the real NuCLS tiles).
- `network`, `train`, `export`: instanseg's network and loss, the training loop, TorchScript export.
- `metrics`, `evaluation`: F1 at IoU 0.5 and mean matched IoU, and how models are scored.
- `cli`: `tessera model train | export | evaluate`.

Importing this package imports nothing heavy; it needs only numpy, scipy, scikit-image, pillow,
tifffile, torch, instanseg-torch, tqdm and typer (no service dependencies), so it also runs on a
bare GPU machine.
"""
