"""`ansible-test sanity` over a copy of the collection at ansible_collections/tradebot/kucoin, offline.

ansible-test bootstraps pip in each per-test virtualenv by downloading get-pip.py from a host this machine
cannot reach; it first looks in its cache, so we seed the cache with a stand-in that uses ensurepip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Reports land here for scripts/run_tiers.py to count.
JUNIT_OUT = ROOT / "tests" / "output" / "sanity-junit"
CACHE = Path.home() / ".ansible" / "test" / "cache"

GET_PIP_STANDIN = '''"""Offline stand-in for get-pip.py: bundled pip via ensurepip, then pip installs what was asked."""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
config_file = os.environ.get("PIP_CONFIG_FILE")
ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null; the real install needs the machine's pip config (index, CA).
env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
if config_file is not None:
    env["PIP_CONFIG_FILE"] = config_file
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env))
'''


def seed_get_pip() -> None:
    import ansible_test

    requirements = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    versions = set(re.findall(r"pip='([0-9.]+)'", requirements.read_text()))
    CACHE.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (CACHE / f"get_pip_{version.replace('.', '_')}.py").write_text(GET_PIP_STANDIN)


def copy_collection(copy: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def main() -> int:
    seed_get_pip()
    # Outside the checkout: inside it, ansible-test asks git, which ignores tests/output, and skips everything.
    with tempfile.TemporaryDirectory(prefix="tradebot-sanity-") as scratch:
        copy = Path(scratch) / "ansible_collections" / "tradebot" / "kucoin"
        copy_collection(copy)
        ansible_test = Path(sys.executable).parent / "ansible-test"
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        cmd = [str(ansible_test), "sanity", "--venv", "--python", python, "--junit", "--color", "no"]
        print("$ " + " ".join(cmd), flush=True)
        rc = subprocess.call(cmd, cwd=copy)
        if JUNIT_OUT.exists():
            shutil.rmtree(JUNIT_OUT)
        junit = copy / "tests" / "output" / "junit"
        if junit.is_dir():
            shutil.copytree(junit, JUNIT_OUT)
    return rc


if __name__ == "__main__":
    sys.exit(main())
