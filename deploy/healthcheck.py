"""The image's HEALTHCHECK: GET /healthz of this container's service (exit 0 when it answers).

The gateway answers on its own port (TESSERA_GATEWAY_PORT, 8000), every other service on its ops
port (TESSERA_OPS_PORT); which one runs is the last argument of PID 1 (`tessera serve <name>`).
"""

import os
import sys
import urllib.request

with open("/proc/1/cmdline", "rb") as cmdline:
    service = cmdline.read().rstrip(b"\0").split(b"\0")[-1].decode()
if service == "gateway":
    port = os.environ.get("TESSERA_GATEWAY_PORT", "8000")
else:
    port = os.environ.get("TESSERA_OPS_PORT", "9100")
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
except OSError as exc:
    sys.exit(f"{service} on :{port}: {exc}")
