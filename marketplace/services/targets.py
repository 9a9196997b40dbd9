"""Writes on buyers' target tasks and their (small, private) target sets.

A target set is uploaded in the same formats as datasets and validated by the same rules,
but all or nothing: a file with any invalid row is refused with its validation report and
nothing changes. Uploading again replaces the previous set in one transaction.
``target_set_hash`` (same order-independent hash as a version's ``content_hash``) lets the
valuation app tell whether the set changed since a valuation ran.
"""

from __future__ import annotations

import io
import json
from pathlib import PurePath
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.selectors import user_has_role
from core.errors import Invalid, NotAllowed
from marketplace import conf, fingerprints
from marketplace.ingest.parsers import format_for
from marketplace.ingest.records import FileError, Record, ReportBuilder
from marketplace.ingest.scan import Scan
from marketplace.language import guess_language
from marketplace.models import TargetSample, TargetTask
from marketplace.services.versions import file_size
from marketplace.tokens import count_sample_tokens


class TargetSetInvalid(Invalid):
    """The target file has errors; ``report`` is the validation report (nothing was saved)."""

    def __init__(self, message: str, *, report: dict[str, Any]):
        super().__init__(message, field="file", details={"report": report})
        self.report = report


def _require_buyer(*, task: TargetTask, actor: AbstractBaseUser) -> None:
    if task.buyer_id != actor.pk:
        raise NotAllowed("Only the task's buyer may change it.")


def _clean(name: str, description: str) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise Invalid("A name is required.", field="name")
    if len(name) > 200:
        raise Invalid("At most 200 characters.", field="name")
    return name, (description or "").strip()


def target_task_create(*, buyer: AbstractBaseUser, name: str, description: str = "") -> TargetTask:
    if not user_has_role(buyer, "buyer"):
        raise NotAllowed("Only buyers can create target tasks.")
    name, description = _clean(name, description)
    return TargetTask.objects.create(buyer=buyer, name=name, description=description)


def target_task_update(
    *, task: TargetTask, actor: AbstractBaseUser, name: str, description: str
) -> TargetTask:
    _require_buyer(task=task, actor=actor)
    task.name, task.description = _clean(name, description)
    task.save(update_fields=["name", "description", "updated_at"])
    return task


@transaction.atomic
def target_task_delete(*, task: TargetTask, actor: AbstractBaseUser) -> None:
    _require_buyer(task=task, actor=actor)
    task.delete()


def target_set_upload(
    *,
    task: TargetTask,
    actor: AbstractBaseUser,
    file: IO[bytes],
    filename: str,
    declared_format: str | None = None,
) -> TargetTask:
    """Validate and store a target set, replacing the previous one; all or nothing."""
    _require_buyer(task=task, actor=actor)
    filename = PurePath(filename or "target").name[:255]
    try:
        fmt = format_for(filename=filename, declared=declared_format)
    except FileError as exc:
        raise Invalid(exc.message, field="file") from exc
    size = file_size(file)
    limit = conf.target_upload_max_bytes()
    if size > limit:
        raise Invalid(
            f"{filename} is {size:,} bytes; target sets are limited to {limit:,} bytes.",
            field="file",
        )
    max_samples = conf.target_max_samples()
    report = ReportBuilder(max_errors=conf.ingest_report_max_errors())
    records: list[Record] = []
    try:
        scan = Scan(
            file,
            fmt=fmt,
            size=size,
            max_chars=conf.sample_max_chars(),
            limits=conf.ingest_limits(),
        )
        for record, errors in scan:
            report.add(record, errors)
            if record is not None:
                records.append(record)
            if report.total_rows > max_samples:
                raise FileError(
                    "too_many_rows",
                    f"a target set has at most {max_samples:,} samples; this file has more",
                )
    except FileError as exc:
        report.fatal = exc
        raise TargetSetInvalid(exc.message, report=report.as_dict()) from exc
    if report.invalid_rows:
        first = report.errors[0]["message"] if report.errors else ""
        raise TargetSetInvalid(
            f"{report.invalid_rows:,} of {report.total_rows:,} rows are invalid (first: {first}); "
            "fix the file and upload it again",
            report=report.as_dict(),
        )

    triples = [(r.text, r.prompt, r.response) for r in records]
    token_counts = count_sample_tokens(triples)
    hasher = fingerprints.ContentHasher()
    samples = []
    for position, (record, tokens) in enumerate(zip(records, token_counts, strict=True)):
        joined = fingerprints.joined_text(
            text=record.text, prompt=record.prompt, response=record.response
        )
        normalised = fingerprints.normalise(joined)
        hasher.add(
            fingerprints.content_digest(
                text=record.text, prompt=record.prompt, response=record.response
            )
        )
        samples.append(
            TargetSample(
                task=task,
                position=position,
                source_line=record.line,
                external_id=record.id_or_generated(),
                text=record.text,
                prompt=record.prompt,
                response=record.response,
                token_count=tokens,
                norm_hash=fingerprints.norm_hash(normalised),
                minhash=fingerprints.minhash_signature(fingerprints.shingles(normalised)),
            )
        )
    with transaction.atomic():
        task = TargetTask.objects.select_for_update().get(pk=task.pk)
        TargetSample.objects.filter(task=task).delete()
        TargetSample.objects.bulk_create(samples, batch_size=conf.ingest_batch_size())
        task.status = TargetTask.Status.READY
        task.target_set_hash = hasher.hexdigest()
        task.original_filename = filename
        task.format = fmt
        task.sample_count = len(samples)
        task.token_count = sum(token_counts)
        task.language = guess_language(
            [fingerprints.joined_text(text=t, prompt=p, response=r) for t, p, r in triples]
        )
        task.target_set_uploaded_at = timezone.now()
        task.save()
    return task


PASTED_FILENAME = "pasted.jsonl"


def pasted_target_rows(text: str) -> bytes:
    """Pasted target samples as JSON Lines: JSON Lines as pasted when the first non-empty
    line is a JSON object (``{...}``), otherwise one sample per non-empty line."""
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise Invalid("Paste at least one target sample.", field="text")
    if lines[0].startswith("{"):
        return ("\n".join(lines) + "\n").encode("utf-8")
    return "".join(json.dumps({"text": line}, ensure_ascii=False) + "\n" for line in lines).encode(
        "utf-8"
    )


def target_set_paste(*, task: TargetTask, actor: AbstractBaseUser, text: str) -> TargetTask:
    """``target_set_upload`` of pasted samples (see ``pasted_target_rows``); same rules, all
    or nothing."""
    _require_buyer(task=task, actor=actor)
    return target_set_upload(
        task=task,
        actor=actor,
        file=io.BytesIO(pasted_target_rows(text)),
        filename=PASTED_FILENAME,
        declared_format="jsonl",
    )
