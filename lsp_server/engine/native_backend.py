"""The llama.cpp backend of this process: its one-time setup, its logs, what the build offers.

llama.cpp logs through a C callback; it is routed into Python logging here (never to fd 1, which
carries JSON-RPC on stdio). Two events tell the route which native complaints are expected:
a decode we stopped ourselves, and a context created with spare cells on purpose.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading

import llama_cpp

native_logger = logging.getLogger("llama.cpp")

_GGML_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_backend_lock = threading.Lock()
_backend_ready = False
DECODE_ABORTING = threading.Event()
"""Set while a decode stops because we asked it to: llama.cpp then reports a failed compute,
which is no error (background work makes way for a keystroke many times a minute)."""
_SPARE_CELLS_NOTICE = "possible training context overflow"
"""llama.cpp's warning when a context has more cells than the model was trained on. With spare
cells, each sequence still holds at most ``n_ctx`` positions (the engine enforces it), so for
such a context it is no warning."""
SPARE_CELLS_CONTEXT = threading.Event()
"""Set while a context with spare cells is created (its overflow notice is then expected)."""


@llama_cpp.llama_log_callback
def _route_native_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    # Native logs go to Python logging (stderr or the log file), never to fd 1. They are
    # chatty (one line per tensor), so everything below a warning is shown only at -vv.
    message = text.decode("utf-8", "replace").rstrip()
    if message:
        expected = DECODE_ABORTING.is_set() or SPARE_CELLS_CONTEXT.is_set() and _SPARE_CELLS_NOTICE in message
        python_level = _GGML_LEVELS.get(level, logging.DEBUG) if not expected else logging.DEBUG
        native_logger.log(python_level if python_level >= logging.WARNING else logging.DEBUG, message)


def init_backend() -> None:
    """Initialise llama.cpp once per process and route its logs into Python logging."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_log_set(_route_native_log, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _backend_ready = True


def supports_gpu_offload() -> bool:
    """Whether this llama.cpp build has a GPU backend (CUDA, Metal, Vulkan…)."""
    return bool(llama_cpp.llama_supports_gpu_offload())


def default_gpu_layers() -> int:
    """Every layer on the GPU when this build has one, else none."""
    return 999 if supports_gpu_offload() else 0


FLASH_ATTENTION_TYPES = {
    "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED,
    "auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
}
FLASH_ATTENTION_SETTINGS = tuple(FLASH_ATTENTION_TYPES)
"""The values of ``--flash-attn``."""


def flash_attention_for(setting: str, n_gpu_layers: int) -> str:
    """``on``/``off`` as given; ``auto`` is off when nothing is offloaded, else llama.cpp's own choice.

    llama.cpp's ``auto`` turns flash attention on for the CPU too, where its kernel makes the
    one-token decode of a keystroke slower: 20–23 against 16 ms at a 2K-token depth and 60
    against 52 ms at 8K with SmolLM2-135M on 2 cores (``bench/attention.py``, docs/benchmarks.md).
    """
    if setting not in FLASH_ATTENTION_TYPES:
        raise ValueError(f"flash attention must be one of {', '.join(FLASH_ATTENTION_TYPES)} (got {setting!r})")
    if setting == "auto" and n_gpu_layers == 0:
        return "off"
    return setting


def gpu_memory() -> tuple[int, int] | None:
    """Free and total bytes of the GPUs llama.cpp sees (its device query), or None without any."""
    library = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml.so"))
    library.ggml_backend_dev_count.restype = ctypes.c_size_t
    library.ggml_backend_dev_get.restype = ctypes.c_void_p
    library.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    library.ggml_backend_dev_type.restype = ctypes.c_int
    library.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    library.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                                ctypes.POINTER(ctypes.c_size_t)]
    free_total, total_total, found = 0, 0, False
    for index in range(library.ggml_backend_dev_count()):
        device = library.ggml_backend_dev_get(index)
        if library.ggml_backend_dev_type(device) not in _GPU_DEVICE_TYPES:
            continue
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        library.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        free_total, total_total, found = free_total + free.value, total_total + total.value, True
    return (free_total, total_total) if found else None


_GPU_DEVICE_TYPES = (1, 2)
"""``GGML_BACKEND_DEVICE_TYPE_GPU`` and ``_IGPU`` (ggml-backend.h)."""
