"""TorchScript without the deprecation noise.

TorchScript is the format InstanSeg publishes and loads, and instanseg scripts helper functions
when its loss module is imported; torch >= 2.10 warns on every such call that TorchScript is
deprecated. Tessera's tests turn warnings into errors, so the calls that must use TorchScript run
inside `torchscript_deprecation_silenced()` and every other warning still surfaces.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torchscript_deprecation_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*torch\.jit\.\w+.* deprecated", DeprecationWarning)
        yield
