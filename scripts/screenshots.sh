#!/usr/bin/env bash
# The README's screenshots (docs/img/ui-*.jpg): runs the browser tests that take them (the
# accessibility tour, both themes at 1440x900 and 390x844, the long-name checks, the viewer's
# measurements and the live progress), then keeps
# a curated set as JPEG, small enough to live in the repository (about 1-2 MB in all).
#
#   scripts/screenshots.sh            # needs the test services (NATS_URL, DATABASE_URL, REDIS_URL
#                                     # or the embedded ones) and the system's Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

shots="${TESSERA_E2E_SCREENSHOTS:-.state/e2e}"
[ -f ui/dist/index.html ] || make ui
TESSERA_E2E_SCREENSHOTS="$shots" .venv/bin/pytest -q \
  tests/e2e/test_a11y.py::test_every_page_passes_axe_at_both_sizes \
  tests/e2e/test_robust.py::test_long_names_never_overflow_and_read_in_full_on_a_phone \
  tests/e2e/test_viewer.py::test_measure_cells_in_the_viewer_and_link_to_the_view \
  tests/e2e/test_progress.py::test_percent_agrees_with_tiles_and_cancelling_moves_no_bar

.venv/bin/python - "$shots" docs/img <<'PY'
import sys
from pathlib import Path

from PIL import Image

shots, out = Path(sys.argv[1]), Path(sys.argv[2])
tour = "test_every_page_passes_axe_at_both_sizes[{theme}]"
names = "test_long_names_never_overflow_and_read_in_full_on_a_phone"
# (folder, file) -> the name in docs/img
wanted = {}
for theme in ("dark", "light"):
    for size in ("desktop", "phone"):
        for page in ("list", "workflow", "job"):
            wanted[(tour.format(theme=theme), f"{size}-{page}.png")] = f"ui-{page}-{size}-{theme}"
wanted[(tour.format(theme="dark"), "desktop-builder.png")] = "ui-builder-desktop-dark"
wanted[(tour.format(theme="light"), "phone-builder.png")] = "ui-builder-phone-light"
wanted[(tour.format(theme="light"), "desktop-slide-drawer.png")] = "ui-slide-desktop-light"
wanted[(tour.format(theme="dark"), "desktop-admission.png")] = "ui-admission-desktop-dark"
wanted[(names, "phone-full-name.png")] = "ui-long-name-phone-dark"
viewer = "test_measure_cells_in_the_viewer_and_link_to_the_view"
wanted[(viewer, "01-cell-dark.png")] = "ui-viewer-cell-desktop-dark"
wanted[(viewer, "03-phone-light.png")] = "ui-viewer-phone-light"
progress = "test_percent_agrees_with_tiles_and_cancelling_moves_no_bar"
wanted[(progress, "01-running.png")] = "ui-progress-running-desktop"
wanted[(progress, "04-admission.png")] = "ui-progress-admission-desktop"
wanted[(progress, "06-job-light.png")] = "ui-progress-job-light"

total = 0
for (folder, file), name in sorted(wanted.items(), key=lambda kv: kv[1]):
    source = shots / folder / file
    target = out / f"{name}.jpg"
    image = Image.open(source).convert("RGB")
    if image.width > 1000:  # desktop shots at 1440 px: 1200 px keeps text legible
        image = image.resize((1200, round(image.height * 1200 / image.width)), Image.LANCZOS)
    image.save(target, "JPEG", quality=80, optimize=True, progressive=True)
    total += target.stat().st_size
    print(f"{target}  {target.stat().st_size // 1024} KiB")
print(f"{len(wanted)} screenshots, {total / 1e6:.2f} MB")
PY
