"""Artefacts that model work writes and reads back (target gradients, proxies, a model's token
table and tokenizer), kept in the ``artefacts`` storage: the local filesystem under
STORAGE_ROOT by default, an S3 bucket with ``STORAGE_BACKEND=s3``.

Every artefact ``name`` has a sidecar ``name.sha256`` holding the sha256 of its content,
written after the artefact itself: while the sidecar is missing the artefact does not exist.

A worker reads an artefact through ``artefact_local_path``: on a filesystem storage that is the
stored file itself; on object storage it is a copy in this host's cache (ARTEFACT_CACHE_DIR),
named by content hash, so each host downloads each artefact once however many tasks read it,
and a rewritten artefact (new content, new hash) is never served stale. Uploads stream from a
local file (multipart above the transfer threshold); downloads stream into the cache (ranged
parts), never through memory whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "artefacts"
DIGEST_SUFFIX = ".sha256"
READ_BLOCK = 8 * 1024 * 1024
stats: Counter[str] = Counter()


class ArtefactMissing(FileNotFoundError):
    """The artefact is not (or not yet completely) in storage."""


class LocalArtefactStorage(FileSystemStorage):
    """The embedded default: files under STORAGE_ROOT (read at use, so a changed setting
    applies), rewritten in place, since an artefact's name is fixed by what it is."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_overwrite", True)
        super().__init__(**kwargs)

    @property
    def base_location(self):  # type: ignore[override]
        return self._value_or_setting(self._location, settings.STORAGE_ROOT)

    @property
    def location(self):  # type: ignore[override]
        return os.path.abspath(self.base_location)


def artefact_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def _local_path(storage: Storage, name: str) -> Path | None:
    """The stored file's own path when the storage is a local filesystem."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# ---- write -----------------------------------------------------------------------------------


def artefact_save(*, name: str, path: Path) -> str:
    """Store the local file ``path`` as artefact ``name`` (replacing it); return its sha256.

    The old sidecar goes first and the new one comes last, so no reader ever takes a half
    written artefact, or the new content for the old hash. Content already stored under
    ``name`` is not sent again."""
    digest = file_sha256(path)
    if artefact_digest(name=name) == digest:
        return digest  # already stored (another host wrote the same content): nothing to do
    storage = artefact_storage()
    storage.delete(name + DIGEST_SUFFIX)
    with path.open("rb") as handle:
        saved = storage.save(name, File(handle, name=path.name))
    if saved != name:  # a storage that renames on collision would break the fixed names
        raise RuntimeError(f"artefact storage stored {name} as {saved}; enable overwriting")
    storage.save(name + DIGEST_SUFFIX, ContentFile(digest.encode("ascii")))
    stats["uploads"] += 1
    return digest


def artefact_save_dir(*, name: str, directory: Path) -> str:
    """Store a folder (a tokenizer) as one uncompressed tar artefact."""
    with tempfile.TemporaryDirectory(dir=scratch_root()) as scratch:
        archive = Path(scratch) / "folder.tar"
        with tarfile.open(archive, "w") as tar:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory)))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
        return artefact_save(name=name, path=archive)


def artefact_delete(*, name: str) -> None:
    storage = artefact_storage()
    storage.delete(name + DIGEST_SUFFIX)
    storage.delete(name)


def artefact_delete_prefix(*, prefix: str) -> None:
    """Delete every artefact under a folder name (tests, and a model's table being redone)."""
    storage = artefact_storage()
    try:
        folders, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for file in files:
        storage.delete(f"{prefix}/{file}")
    for folder in folders:
        artefact_delete_prefix(prefix=f"{prefix}/{folder}")


# ---- read ------------------------------------------------------------------------------------


def artefact_digest(*, name: str) -> str | None:
    """The sha256 of a complete artefact, or None when it is missing or half written."""
    storage = artefact_storage()
    try:
        with storage.open(name + DIGEST_SUFFIX, "rb") as handle:
            value = handle.read().decode("ascii").strip()
    except FileNotFoundError:
        return None
    return value or None


def artefact_exists(*, name: str) -> bool:
    return artefact_digest(name=name) is not None


def _cache_root() -> Path:
    root = Path(settings.ARTEFACT_CACHE_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def scratch_root() -> Path:
    """Where artefacts are written before they are stored (the cache's disk)."""
    root = _cache_root() / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return root


def artefact_local_path(*, name: str) -> tuple[Path, str]:
    """(a local file with the artefact's content, its sha256), downloading it at most once
    per host. Raises ``ArtefactMissing`` when the artefact is not in storage."""
    digest = artefact_digest(name=name)
    if digest is None:
        raise ArtefactMissing(f"artefact {name} is not in storage")
    storage = artefact_storage()
    stored = _local_path(storage, name)
    if stored is not None:
        return stored, digest
    cached = _cache_root() / digest[:2] / digest
    if cached.is_file():
        os.utime(cached)  # recently used: evicted last
        stats["cache_hits"] += 1
        return cached, digest
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{digest}.tmp{os.getpid()}")
    try:
        with storage.open(name, "rb") as source, tmp.open("wb") as target:
            obj = getattr(source, "obj", None)
            if obj is not None:  # S3: ranged, concurrent parts straight into the file
                obj.download_fileobj(target, Config=storage.transfer_config)
            else:
                shutil.copyfileobj(source, target, READ_BLOCK)
        got = file_sha256(tmp)
        if got != digest:
            raise ArtefactMissing(
                f"artefact {name} changed while it was read (sha256 {got}, expected {digest})"
            )
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
    stats["downloads"] += 1
    logger.info("downloaded artefact %s (%s) pid=%s", name, digest[:12], os.getpid())
    _evict(keep=cached)
    return cached, digest


def artefact_local_dir(*, name: str) -> tuple[Path, str]:
    """A folder artefact (``artefact_save_dir``) unpacked once per host and content hash."""
    archive, digest = artefact_local_path(name=name)
    folder = _cache_root() / "dirs" / digest
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{digest}.tmp"))
        try:
            with tarfile.open(archive, "r") as tar:
                tar.extractall(scratch, filter="data")
            try:
                os.rename(scratch, folder)
            except OSError:  # another process unpacked the same content first
                if not folder.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder, digest


def _evict(*, keep: Path) -> None:
    """Keep the downloaded files under ARTEFACT_CACHE_MAX_BYTES, least recently used first."""
    limit = int(settings.ARTEFACT_CACHE_MAX_BYTES)
    files = [
        path for path in _cache_root().glob("??/*") if path.is_file() and ".tmp" not in path.name
    ]
    entries = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in files), reverse=True)
    total = 0
    for _mtime, size, path in entries:
        total += size
        if total > limit and path != keep:
            path.unlink(missing_ok=True)
            shutil.rmtree(_cache_root() / "dirs" / path.name, ignore_errors=True)
