"""The terminal commands of the model catalog: ``models`` lists it, ``pull`` downloads from it.

Bad input gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from infill_lsp.catalog import HF_PREFIX, CatalogEntry, ModelNotFound, cached_file, find, load_catalog, split_hf
from infill_lsp.pull import PullError, pull


def run(args: argparse.Namespace) -> int:
    try:
        return list_models(as_json=args.json) if args.command == "models" else pull_model(args.name)
    except (ModelNotFound, PullError) as error:
        print(f"infill-lsp {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"infill-lsp {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


def memory_bytes() -> int:
    """Physical memory of this machine."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def fits(entry: CatalogEntry, memory: int, gpu_total: int | None) -> bool:
    """Whether the weights, with room for the KV cache and the rest, fit: in the GPU's memory when
    there is a GPU, else in this machine's."""
    room = gpu_total if gpu_total is not None else memory
    return room > 0 and entry.estimated_bytes() * 1.3 < room


def list_models(*, as_json: bool) -> int:
    from infill_lsp.engine.native_backend import gpu_memory

    memory, gpu = memory_bytes(), gpu_memory()
    gpu_total = gpu[1] if gpu else None
    rows = []
    for entry in load_catalog():
        path = cached_file(entry.repo, entry.file)
        rows.append({"name": entry.name, "repo": entry.repo, "file": entry.file, "quantization": entry.quantization,
                     "parametersB": entry.parameters_b, "context": entry.context, "fim": entry.fim,
                     "license": entry.license, "hardware": entry.hardware, "sizeBytes": entry.estimated_bytes(),
                     "verified": entry.verified, "downloaded": str(path) if path else None,
                     "fitsMemory": fits(entry, memory, gpu_total)})
    if as_json:
        json.dump({"memoryBytes": memory, "gpuMemoryBytes": gpu_total, "models": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    where = f"a GPU with {gpu_total / 2**30:.0f} GiB" if gpu_total is not None else "no GPU that llama.cpp can use"
    print(f"this machine: {memory / 2**30:.0f} GiB of memory; {where}")
    print(f"{'name':22} {'size':>8} {'FIM':>6} {'fits':>4}  {'downloaded':10}  suits")
    for row in rows:
        print(f"{row['name']:22} {row['sizeBytes'] / 2**30:7.1f}G {row['fim'] or 'none':>6} "
              f"{'yes' if row['fitsMemory'] else 'no':>4}  {'yes' if row['downloaded'] else '':10}  {row['hardware']}")
    print("sizes are estimates where the catalog has none; `infill-lsp pull NAME` downloads and verifies one")
    return 0


def pull_model(name: str) -> int:
    entry = find(name)
    if entry is None and name.startswith(HF_PREFIX):
        repo, file = split_hf(name)
        entry = CatalogEntry(name=name, repo=repo, file=file, quantization="", parameters_b=0.0, context=0, fim=None,
                             license="", hardware="", sha256=None, size_bytes=None, verified=False)
    if entry is None:
        raise ModelNotFound(f"no catalog model named {name!r}: see `infill-lsp models`, "
                            "or pass hf:owner/repo/file.gguf")
    pulled = pull(entry)
    state = "downloaded" if pulled.downloaded else "already downloaded"
    print(f"{entry.name}: {state}, SHA-256 {pulled.sha256} verified\n{pulled.path}")
    print(f"use it with --model {entry.name}")
    return 0
