"""Work around a crash between Mesa's software OpenGL and triton.

On Linux machines without a GPU driver (CI, Xvfb, remote desktops) napari's
OpenGL context is Mesa's llvmpipe, which loads the system ``libLLVM``.
``import timm`` pulls in ``torchvision`` -> ``torch._dynamo`` -> ``triton``,
whose ``libtriton.so`` bundles another LLVM, and loading it into a process
that already holds Mesa's LLVM segfaults. Triton is only used by
``torch.compile`` on GPUs, which napari-featann never calls, so when Mesa's
LLVM is already loaded and triton is not, triton is marked as absent
(``sys.modules["triton"] = None``); torch then runs without it.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["avoid_llvm_clash"]

log = logging.getLogger(__name__)


def _mapped_llvm() -> bool:
    try:
        with open("/proc/self/maps") as fh:
            return re.search(r"/libLLVM[^/\s]*\.so", fh.read()) is not None
    except OSError:  # not Linux
        return False


def avoid_llvm_clash() -> bool:
    """Mark triton as unavailable when loading it would crash; returns True if it did."""
    if "triton" in sys.modules or not sys.platform.startswith("linux"):
        return False
    if not _mapped_llvm():
        return False
    sys.modules["triton"] = None  # makes `import triton` raise ImportError
    log.info("Mesa's LLVM is loaded (software OpenGL): triton disabled to avoid a crash")
    return True
