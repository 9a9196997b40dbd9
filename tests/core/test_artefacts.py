"""Artefacts and uploads through Django's storage API, on the local filesystem and on a real
S3-protocol server (moto's standalone server on loopback, started by the ``s3_server``
fixture): multipart uploads, streamed reads into a per-host cache keyed by content hash."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from core import artefacts
from core.artefacts import (
    ArtefactMissing,
    artefact_delete,
    artefact_digest,
    artefact_local_dir,
    artefact_local_path,
    artefact_save,
    artefact_save_dir,
)
from tests.core.test_settings import run_manage


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def fresh_stats():
    artefacts.stats.clear()


def test_filesystem_artefact_is_read_in_place(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.ARTEFACT_CACHE_DIR = tmp_path / "cache"
    data = os.urandom(1000)
    digest = artefact_save(name="valuation/1/proxy.safetensors", path=write(tmp_path / "p", data))
    assert digest == hashlib.sha256(data).hexdigest()
    stored = tmp_path / "storage" / "valuation" / "1" / "proxy.safetensors"
    assert stored.read_bytes() == data
    assert (tmp_path / "storage/valuation/1/proxy.safetensors.sha256").read_text() == digest
    # Rewritten in place, not renamed beside the old one.
    artefact_save(name="valuation/1/proxy.safetensors", path=write(tmp_path / "q", b"new"))
    assert sorted(p.name for p in stored.parent.iterdir()) == [
        "proxy.safetensors",
        "proxy.safetensors.sha256",
    ]
    assert artefact_local_path(name="valuation/1/proxy.safetensors") == (
        stored,
        hashlib.sha256(b"new").hexdigest(),
    )
    assert artefacts.stats["downloads"] == 0


def test_artefact_without_its_hash_does_not_exist(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.ARTEFACT_CACHE_DIR = tmp_path / "cache"
    # A writer killed between the content and its hash leaves no readable artefact.
    write(tmp_path / "storage/valuation/2/target_gradient.safetensors", b"torn")
    with pytest.raises(ArtefactMissing, match="valuation/2/target_gradient.safetensors"):
        artefact_local_path(name="valuation/2/target_gradient.safetensors")
    assert artefact_digest(name="valuation/2/target_gradient.safetensors") is None


def test_s3_upload_is_multipart_and_each_host_downloads_once(
    s3_storage, s3_server, tmp_path, settings
):
    data = os.urandom(12 * 1024 * 1024)  # above boto3's 8 MiB multipart threshold
    name = "valuation/7/target_gradient.safetensors"
    digest = artefact_save(name=name, path=write(tmp_path / "g", data))
    client = s3_server.client()
    bucket = s3_storage["STORAGE_S3_BUCKET"]
    head = client.head_object(Bucket=bucket, Key=name)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")  # two parts: a multipart upload
    sidecar = client.get_object(Bucket=bucket, Key=f"{name}.sha256")["Body"].read()
    assert sidecar == digest.encode()

    first_host = tmp_path / "artefact-cache"  # s3_storage sets it
    for _ in range(3):
        path, got = artefact_local_path(name=name)
        assert got == digest
        assert path == first_host / digest[:2] / digest
        assert path.read_bytes() == data
    assert (artefacts.stats["downloads"], artefacts.stats["cache_hits"]) == (1, 2)

    settings.ARTEFACT_CACHE_DIR = tmp_path / "other-host"
    path, _ = artefact_local_path(name=name)
    assert path.parent.parent == tmp_path / "other-host"
    assert artefacts.stats["downloads"] == 2

    # The same content again is not sent again.
    assert artefact_save(name=name, path=tmp_path / "g") == digest
    assert artefacts.stats["uploads"] == 1

    # New content, new hash: never served from the old cached copy.
    artefact_save(name=name, path=write(tmp_path / "g2", b"retrained"))
    path, got = artefact_local_path(name=name)
    assert (path.read_bytes(), got) == (b"retrained", hashlib.sha256(b"retrained").hexdigest())
    assert artefacts.stats["downloads"] == 3

    artefact_delete(name=name)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    with pytest.raises(ArtefactMissing):
        artefact_local_path(name=name)


def test_s3_folder_artefact_unpacks_once(s3_storage, tmp_path):
    folder = tmp_path / "tokenizer"
    write(folder / "tokenizer.json", b'{"model": 1}')
    write(folder / "sub" / "special.txt", b"<pad>")
    artefact_save_dir(name="valuation/models/m/tokenizer.tar", directory=folder)
    unpacked, digest = artefact_local_dir(name="valuation/models/m/tokenizer.tar")
    assert (unpacked / "tokenizer.json").read_bytes() == b'{"model": 1}'
    assert (unpacked / "sub" / "special.txt").read_bytes() == b"<pad>"
    assert artefact_local_dir(name="valuation/models/m/tokenizer.tar") == (unpacked, digest)
    assert artefacts.stats["downloads"] == 1


def test_cache_keeps_under_its_byte_limit_dropping_least_recently_used(
    s3_storage, tmp_path, settings
):
    settings.ARTEFACT_CACHE_MAX_BYTES = 2500
    for index in range(3):
        artefact_save(name=f"a/{index}", path=write(tmp_path / f"f{index}", bytes([index]) * 1000))
    first, _ = artefact_local_path(name="a/0")
    second, _ = artefact_local_path(name="a/1")
    os.utime(first, (1, 1))  # a/0 used long ago
    third, _ = artefact_local_path(name="a/2")
    assert (first.exists(), second.exists(), third.exists()) == (False, True, True)


@pytest.mark.django_db
def test_upload_and_ingest_read_the_file_from_s3(s3_storage, s3_server):
    from accounts.services import user_create
    from marketplace.models import DatasetVersion, Sample
    from marketplace.services.listings import listing_create
    from marketplace.services.versions import version_upload

    provider = user_create(
        username="p", email="p@example.com", password="x-123-abc", is_provider=True
    )
    listing = listing_create(
        provider=provider, title="Cloud", licence="MIT", floor_price_per_1k_tokens=1
    )
    rows = [{"text": f"sample number {i} about storage"} for i in range(25)]
    body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(body), filename="cloud.jsonl", inline=True
    )
    assert version.status == DatasetVersion.Status.READY, version.error
    assert Sample.objects.filter(version=version).count() == 25
    stored = s3_server.client().get_object(
        Bucket=s3_storage["STORAGE_S3_BUCKET"], Key=version.source_file.name
    )
    assert stored["Body"].read() == body


def test_storage_backend_setting_builds_s3_storages_from_the_environment():
    script = (
        "from django.conf import settings; import json; "
        "print(json.dumps({k: v for k, v in settings.STORAGES.items()}, default=str))"
    )
    result = run_manage(
        "shell",
        "-c",
        script,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "STORAGE_BACKEND": "s3",
            "STORAGE_S3_BUCKET": "market-artefacts",
            "STORAGE_S3_PREFIX": "/prod/",
            "STORAGE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        },
    )
    assert result.returncode == 0, result.stderr
    storages = json.loads(result.stdout.strip().splitlines()[-1])
    for alias, overwrite in (("default", False), ("artefacts", True)):
        assert storages[alias]["BACKEND"] == "storages.backends.s3.S3Storage"
        options = storages[alias]["OPTIONS"]
        assert (options["bucket_name"], options["location"], options["file_overwrite"]) == (
            "market-artefacts",
            "prod",
            overwrite,
        )
        assert options["endpoint_url"] == "http://127.0.0.1:9000"


def test_unknown_storage_backend_is_refused_by_name():
    result = run_manage(
        "check",
        env={"DJANGO_SETTINGS_MODULE": "config.settings.base", "STORAGE_BACKEND": "ftp"},
    )
    assert result.returncode != 0
    assert "STORAGE_BACKEND must be 'filesystem' or 's3', not 'ftp'" in result.stderr
