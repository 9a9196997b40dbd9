"""Writes on dataset versions: upload, validate, ingest (staged and atomic), discard.

Flow::

    version_upload  -> STAGED (file stored, sha256)
    version_process -> VALIDATING -> FAILED (file-level error or no valid row)
                                  -> VALIDATED (some rows invalid: provider chooses)
                                  -> INGESTING -> READY (no errors)
    version_accept_valid_rows: VALIDATED -> INGESTING -> READY (invalid rows skipped)
    version_discard:           VALIDATED/FAILED -> DISCARDED ("I will upload a fixed file";
                               a new upload discards a VALIDATED version by itself)

Uploads of at least ``INGEST_ASYNC_THRESHOLD_BYTES`` are processed by a Celery task
(``marketplace.tasks``); smaller ones inside the call. Rows are inserted while the version is
``INGESTING``, which every selector hides; on any failure they are deleted again and the
version is ``FAILED`` with a readable ``error``. A re-delivered task (worker crash) starts
the ingest over, removing leftovers first.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from core.bulk import analyze, copy_models, copy_rows, reserve_ids
from core.errors import Conflict, Invalid, NotAllowed
from marketplace import conf, fingerprints
from marketplace.ingest.parsers import format_for
from marketplace.ingest.records import FileError, Record, ReportBuilder
from marketplace.ingest.scan import Scan
from marketplace.language import UNDETERMINED, LanguageGuesser
from marketplace.models import DatasetVersion, Listing, Sample, SampleBand
from marketplace.tokens import count_sample_tokens

logger = logging.getLogger(__name__)
Status = DatasetVersion.Status
PROGRESS_EVERY_SECONDS = 0.5


class IngestAborted(Exception):
    """The ingest stopped on purpose (the file no longer matches its validation)."""


# --- helpers --------------------------------------------------------------------------------


def _require_owner(*, listing: Listing, actor: AbstractBaseUser) -> None:
    if listing.provider_id != actor.pk:
        raise NotAllowed("Only the listing's provider may manage its versions.")


def file_size(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)
    if size is not None:
        return int(size)
    position = file.tell()
    file.seek(0, 2)
    size = file.tell()
    file.seek(position)
    return size


def _sha256(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def _set(version: DatasetVersion, **fields: Any) -> None:
    """Write ``fields`` on the row and the instance, without touching other columns."""
    fields["updated_at"] = timezone.now()
    DatasetVersion.objects.filter(pk=version.pk).update(**fields)
    for name, value in fields.items():
        setattr(version, name, value)


def _transition(version: DatasetVersion, *, from_statuses: Iterable[str], to: str) -> bool:
    """Atomically move ``version`` to ``to`` if it is in one of ``from_statuses``."""
    moved = DatasetVersion.objects.filter(pk=version.pk, status__in=list(from_statuses)).update(
        status=to, updated_at=timezone.now()
    )
    if moved:
        version.status = to
    return bool(moved)


class _Progress:
    def __init__(self, version: DatasetVersion, phase: str):
        self.version = version
        self.phase = phase
        self.last = 0.0

    def __call__(self, done: int, total: int, unit: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            _set(
                self.version,
                progress_phase=self.phase,
                progress_done=min(done, total) if total else done,
                progress_total=total,
                progress_unit=unit,
            )


def _open_scan(version: DatasetVersion) -> tuple[IO[bytes], Scan]:
    fileobj = default_storage.open(version.source_file.name, "rb")
    scan = Scan(
        fileobj,
        fmt=version.format,
        size=version.file_size,
        max_chars=conf.sample_max_chars(),
        limits=conf.ingest_limits(),
    )
    return fileobj, scan


def _dispatch(version: DatasetVersion, *, step: str, inline: bool = False) -> None:
    """Run ``step`` ("process" or "ingest") inline for small files, else on a Celery worker."""
    from marketplace import tasks

    if not inline and version.file_size >= conf.ingest_async_threshold_bytes():
        task = tasks.version_process if step == "process" else tasks.version_ingest
        task.delay(version_id=version.pk)
    elif step == "process":
        version_process(version=version)
    else:
        version_ingest(version=version)
    version.refresh_from_db()


# --- upload ---------------------------------------------------------------------------------


def version_upload(
    *,
    listing: Listing,
    actor: AbstractBaseUser,
    file: IO[bytes],
    filename: str,
    declared_format: str | None = None,
    inline: bool = False,
) -> DatasetVersion:
    """Store an uploaded file as a new ``STAGED`` version of ``listing`` and start processing.

    ``inline=True`` processes it in this call whatever its size (management commands).

    Refused, with nothing stored: not the owner, a taken-down listing, another version still
    being processed, unknown format, an empty file or one above ``UPLOAD_MAX_BYTES``. A version
    waiting for the provider's choice (``VALIDATED``) is discarded: the new file replaces it.
    """
    _require_owner(listing=listing, actor=actor)
    filename = PurePath(filename or "upload").name[:255]
    try:
        fmt = format_for(filename=filename, declared=declared_format)
    except FileError as exc:
        raise Invalid(exc.message, field="file") from exc
    size = file_size(file)
    limit = conf.upload_max_bytes()
    if size > limit:
        raise Invalid(
            f"{filename} is {size:,} bytes; the upload limit is {limit:,} bytes.", field="file"
        )
    if size == 0:
        raise Invalid(f"{filename} is empty.", field="file")
    django_file = file if isinstance(file, File) else File(file, name=filename)
    sha256 = _sha256(django_file)

    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing.pk)
        if listing.status == Listing.Status.TAKEN_DOWN:
            raise Conflict(
                "This listing was taken down by staff; uploads are closed.", code="taken_down"
            )
        busy = listing.versions.filter(status__in=DatasetVersion.IN_PROGRESS).exclude(
            status=Status.VALIDATED
        )
        if busy.exists():
            other = busy.first()
            raise Conflict(
                f"Version {other.number} is still being processed ({other.status}); "
                "wait until it is finished.",
                code="version_in_progress",
            )
        replaced = list(listing.versions.filter(status=Status.VALIDATED))
        for old in replaced:
            _set(old, status=Status.DISCARDED, error="Replaced by a new upload.")
        number = (listing.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        extension = PurePath(filename).suffix.lower() or f".{fmt}"
        stored_name = default_storage.save(
            f"datasets/listing-{listing.pk}/v{number}-{sha256[:12]}{extension}", django_file
        )
        version = DatasetVersion.objects.create(
            listing=listing,
            number=number,
            source_file=stored_name,
            original_filename=filename,
            format=fmt,
            file_size=size,
            file_sha256=sha256,
            status=Status.STAGED,
        )
        transaction.on_commit(lambda: version_files_delete(versions=replaced))
    _dispatch(version, step="process", inline=inline)
    return version


# --- validation -----------------------------------------------------------------------------


def version_process(*, version: DatasetVersion) -> DatasetVersion:
    """Validate a staged version; ingest it right away when every row is valid."""
    if not _transition(
        version, from_statuses=[Status.STAGED, Status.VALIDATING], to=Status.VALIDATING
    ):
        return version
    _set(version, progress_phase="validate", progress_done=0, progress_total=version.file_size)
    report = ReportBuilder(max_errors=conf.ingest_report_max_errors())
    progress = _Progress(version, "validate")
    fileobj = None
    try:
        fileobj, scan = _open_scan(version)
        for record, errors in scan:
            report.add(record, errors)
            progress(*scan.progress())
        progress(*scan.progress(), force=True)
    except FileError as exc:
        report.fatal = exc
    except Exception as exc:  # noqa: BLE001 - any crash must end in a readable FAILED state
        logger.exception("validation of version %s crashed", version.pk)
        report.fatal = FileError("internal_error", f"validation stopped unexpectedly: {exc}")
    finally:
        if fileobj is not None:
            fileobj.close()

    result = report.as_dict()
    now = timezone.now()
    if report.fatal is not None:
        _set(
            version,
            status=Status.FAILED,
            validation_report=result,
            validated_at=now,
            error=report.fatal.message,
        )
        return version
    if report.valid_rows == 0:
        _set(
            version,
            status=Status.FAILED,
            validation_report=result,
            validated_at=now,
            error=f"None of the {report.total_rows:,} rows is valid; see the validation report.",
        )
        return version
    if report.invalid_rows:
        _set(version, status=Status.VALIDATED, validation_report=result, validated_at=now)
        return version
    _set(version, status=Status.INGESTING, validation_report=result, validated_at=now)
    return version_ingest(version=version)


def version_accept_valid_rows(
    *, version: DatasetVersion, actor: AbstractBaseUser
) -> DatasetVersion:
    """The provider's choice "ingest the N valid rows": skip invalid rows and ingest."""
    _require_owner(listing=version.listing, actor=actor)
    if version.status != Status.VALIDATED:
        raise Conflict(
            f"Only a version awaiting your choice can be accepted (this one is {version.status}).",
            code="not_awaiting_choice",
        )
    with transaction.atomic():
        if not _transition(version, from_statuses=[Status.VALIDATED], to=Status.INGESTING):
            raise Conflict(
                "This version changed meanwhile; reload the page.", code="version_changed"
            )
        _set(version, valid_rows_only=True)
    _dispatch(version, step="ingest")
    return version


def version_discard(*, version: DatasetVersion, actor: AbstractBaseUser) -> DatasetVersion:
    """The provider's choice "upload a fixed file": drop this version and its stored file.

    A ``STAGED`` version (its worker never started) may be discarded too; a worker that picks
    it up later finds it discarded and does nothing."""
    _require_owner(listing=version.listing, actor=actor)
    if not _transition(
        version,
        from_statuses=[Status.STAGED, Status.VALIDATED, Status.FAILED],
        to=Status.DISCARDED,
    ):
        raise Conflict(
            "Only a version waiting to be processed, awaiting your choice or failed can be "
            f"discarded (this one is {version.status}).",
            code="not_discardable",
        )
    version_files_delete(versions=[version])
    return version


def version_files_delete(*, versions: Iterable[DatasetVersion]) -> None:
    for version in versions:
        if version.source_file and default_storage.exists(version.source_file.name):
            default_storage.delete(version.source_file.name)


# --- ingest ---------------------------------------------------------------------------------


def _delete_rows(version: DatasetVersion) -> None:
    """Remove every sample row of a version that is not ready (after a failure or crash)."""
    samples = Sample.objects.filter(version=version)
    samples.update(duplicate_of=None, duplicate_kind="")
    SampleBand.objects.filter(sample__version=version).delete()
    while True:
        ids = list(samples.values_list("pk", flat=True)[:2000])
        if not ids:
            break
        Sample.objects.filter(pk__in=ids).delete()


def _insert_batch(
    version: DatasetVersion, records: list[Record], start_position: int
) -> tuple[int, list[bytes]]:
    """Fingerprint one batch of samples and write it with its LSH bands; return (tokens,
    digests)."""
    token_counts = count_sample_tokens([(r.text, r.prompt, r.response) for r in records])
    samples: list[Sample] = []
    digests: list[bytes] = []
    keys: list[list[int]] = []
    for offset, (record, tokens) in enumerate(zip(records, token_counts, strict=True)):
        normalised = fingerprints.normalise(
            fingerprints.joined_text(
                text=record.text, prompt=record.prompt, response=record.response
            )
        )
        signature = fingerprints.minhash_signature(fingerprints.shingles(normalised))
        keys.append(fingerprints.near_keys(normalised, signature))
        samples.append(
            Sample(
                version=version,
                position=start_position + offset,
                source_line=record.line,
                external_id=record.id_or_generated(),
                text=record.text,
                prompt=record.prompt,
                response=record.response,
                token_count=tokens,
                norm_hash=fingerprints.norm_hash(normalised),
                minhash=signature,
            )
        )
        digests.append(
            fingerprints.content_digest(
                text=record.text, prompt=record.prompt, response=record.response
            )
        )
    _write_batch(samples, keys)
    return sum(token_counts), digests


def _write_batch(samples: list[Sample], keys: list[list[int]]) -> None:
    """Write one batch of samples and their near-duplicate keys, in one transaction."""
    with transaction.atomic():
        if conf.ingest_uses_copy():
            # PostgreSQL: ids reserved from the sequence, then COPY for samples and keys.
            for sample, pk in zip(
                samples, reserve_ids(model=Sample, count=len(samples)), strict=True
            ):
                sample.pk = pk
            copy_models(samples)
            copy_rows(
                table=SampleBand._meta.db_table,
                columns=("sample_id", "key"),
                rows=(
                    (sample.pk, key)
                    for sample, sample_keys in zip(samples, keys, strict=True)
                    for key in sample_keys
                ),
            )
            return
        created = Sample.objects.bulk_create(samples)
        # Plain executemany: ~30 keys per sample would make bulk_create's model instances
        # the slowest part of the ingest.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {SampleBand._meta.db_table} (sample_id, key) VALUES (%s, %s)",
                [
                    (sample.pk, key)
                    for sample, sample_keys in zip(created, keys, strict=True)
                    for key in sample_keys
                ],
            )


def version_ingest(*, version: DatasetVersion) -> DatasetVersion:
    """Insert the version's rows while it is ``INGESTING``, detect duplicates, mark it READY.

    On any failure every inserted row is deleted and the version is ``FAILED``.
    """
    from marketplace.services.duplicates import duplicates_detect_for_version

    version.refresh_from_db()
    if version.status != Status.INGESTING:
        return version
    batch_size = conf.ingest_batch_size()
    progress = _Progress(version, "ingest")
    fileobj = None
    try:
        _delete_rows(version)
        fileobj, scan = _open_scan(version)
        hasher = fingerprints.ContentHasher()
        language = LanguageGuesser()
        batch: list[Record] = []
        position = 0
        tokens = 0
        for record, errors in scan:
            if record is None:
                if version.valid_rows_only:
                    continue
                raise IngestAborted(
                    f"{errors[0].message} -- the stored file no longer matches its validation"
                )
            batch.append(record)
            if not language.full:
                language.feed(
                    fingerprints.joined_text(
                        text=record.text, prompt=record.prompt, response=record.response
                    )
                )
            if len(batch) >= batch_size:
                batch_tokens, digests = _insert_batch(version, batch, position)
                tokens += batch_tokens
                position += len(batch)
                for digest in digests:
                    hasher.add(digest)
                batch = []
                progress(*scan.progress())
        if batch:
            batch_tokens, digests = _insert_batch(version, batch, position)
            tokens += batch_tokens
            position += len(batch)
            for digest in digests:
                hasher.add(digest)
        progress(*scan.progress(), force=True)
        fileobj.close()
        fileobj = None
        # Duplicate detection looks the new rows up by index: plan it with fresh statistics.
        analyze(Sample._meta.db_table, SampleBand._meta.db_table)
        duplicates_detect_for_version(version=version, progress=_Progress(version, "dedupe"))
        _finish(
            version,
            sample_count=position,
            token_count=tokens,
            content_hash=hasher.hexdigest(),
            language=language.result(),
        )
    except Exception as exc:  # noqa: BLE001 - every failure ends FAILED, with no rows left
        if not isinstance(exc, FileError | IngestAborted):
            logger.exception("ingest of version %s failed", version.pk)
        message = exc.message if isinstance(exc, FileError) else str(exc) or type(exc).__name__
        try:
            if fileobj is not None:
                fileobj.close()
        finally:
            _delete_rows(version)
            _set(
                version,
                status=Status.FAILED,
                error=f"Ingest failed: {message}",
                sample_count=0,
                token_count=0,
            )
    return version


@transaction.atomic
def _finish(
    version: DatasetVersion,
    *,
    sample_count: int,
    token_count: int,
    content_hash: str,
    language: str,
) -> None:
    listing = Listing.objects.select_for_update().get(pk=version.listing_id)
    if language == UNDETERMINED and listing.language:
        # Too little text to tell (a small file): the datasheet's declared language stands.
        language = listing.language.lower()
    now = timezone.now()
    if not _transition(version, from_statuses=[Status.INGESTING], to=Status.READY):
        raise IngestAborted("the version left the ingesting state while rows were inserted")
    _set(
        version,
        sample_count=sample_count,
        token_count=token_count,
        content_hash=content_hash,
        language=language,
        ready_at=now,
        error="",
        progress_phase="done",
    )
    current = listing.current_version
    if current is None or current.number < version.number:
        listing.current_version = version
        listing.save(update_fields=["current_version", "updated_at"])
    if settings.EMBED_AT_INGEST:
        # Sentence embeddings do not depend on any buyer's task: compute them once, now,
        # so every later valuation only trains a small head over stored vectors.
        from valuation.services.embeddings import version_embeddings_request

        version_embeddings_request(version=version)


def version_fail_stuck(*, version: DatasetVersion, reason: str) -> DatasetVersion:
    """Operator tool: fail a version stuck in processing (its worker died), removing rows."""
    if version.status not in (Status.STAGED, Status.VALIDATING, Status.INGESTING):
        raise Conflict(
            f"Version {version.pk} is {version.status}, not stuck in processing.",
            code="not_stuck",
        )
    _delete_rows(version)
    _set(version, status=Status.FAILED, error=reason or "Processing was interrupted.")
    return version
