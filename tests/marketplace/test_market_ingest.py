"""Uploading, validating and ingesting dataset versions (services)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage

from core.errors import Conflict, Invalid, NotAllowed
from marketplace import fingerprints
from marketplace.models import DatasetVersion, Sample, SampleBand
from marketplace.selectors import sellable_samples, version_samples
from marketplace.services import versions as version_services
from marketplace.services.listings import listing_take_down
from marketplace.services.versions import (
    version_accept_valid_rows,
    version_discard,
    version_upload,
)
from marketplace.tokens import count_sample_tokens
from tests.marketplace.conftest import jsonl, sentence

Status = DatasetVersion.Status


def upload(listing, actor, content: bytes, filename: str = "data.jsonl", **kwargs):
    return version_upload(
        listing=listing, actor=actor, file=io.BytesIO(content), filename=filename, **kwargs
    )


def errors_of(version) -> list[tuple[int | None, str, str]]:
    return [(e["line"], e["code"], e["message"]) for e in version.validation_report["errors"]]


# --- happy paths, per format ----------------------------------------------------------------


@pytest.mark.django_db
def test_jsonl_upload_becomes_a_ready_version_with_exact_counts(provider_a, make_listing):
    listing = make_listing(provider_a)
    rows = [
        {"id": "a", "text": "The first sample is about cats."},
        {"text": "The second has no id."},
        {"id": "c", "prompt": "Say hello.", "response": "Hello!"},
    ]
    version = upload(listing, provider_a, jsonl(rows))

    assert version.status == Status.READY
    assert version.number == 1
    assert version.format == "jsonl"
    assert version.sample_count == 3
    expected_tokens = count_sample_tokens(
        [
            ("The first sample is about cats.", None, None),
            ("The second has no id.", None, None),
            (None, "Say hello.", "Hello!"),
        ]
    )
    assert version.token_count == sum(expected_tokens)
    samples = list(version_samples(version=version))
    assert [(s.position, s.source_line, s.external_id) for s in samples] == [
        (0, 1, "a"),
        (1, 2, "auto-2"),
        (2, 3, "c"),
    ]
    assert [s.token_count for s in samples] == expected_tokens
    assert samples[2].prompt == "Say hello." and samples[2].text is None
    assert samples[0].norm_hash == fingerprints.norm_hash("the first sample is about cats.")
    assert len(bytes(samples[0].minhash)) == 128 * 4
    assert SampleBand.objects.filter(sample__version=version).count() >= 3 * 16
    assert version.validation_report["valid_rows"] == 3
    assert version.validation_report["invalid_rows"] == 0
    assert version.file_sha256 == __import__("hashlib").sha256(jsonl(rows)).hexdigest()
    listing.refresh_from_db()
    assert listing.current_version_id == version.pk


@pytest.mark.django_db
def test_content_hash_is_order_independent_and_ignores_ids(provider_a, make_listing):
    rows = [{"id": f"x{i}", "text": sentence(i)} for i in range(4)]
    first = upload(make_listing(provider_a, title="one"), provider_a, jsonl(rows))
    shuffled = [{"id": f"other{i}", "text": row["text"]} for i, row in enumerate(rows[::-1])]
    second = upload(make_listing(provider_a, title="two"), provider_a, jsonl(shuffled))
    changed = upload(
        make_listing(provider_a, title="three"),
        provider_a,
        jsonl(shuffled[:-1] + [{"text": shuffled[-1]["text"] + "!"}]),
    )
    assert first.content_hash == second.content_hash
    assert first.content_hash != changed.content_hash
    assert first.file_sha256 != second.file_sha256


@pytest.mark.django_db
def test_csv_text_and_parquet_formats(provider_a, make_listing):
    csv_version = upload(
        make_listing(provider_a, title="csv"),
        provider_a,
        b'id,text,prompt,response\n1,"Multi\nline text",,\n2,,Q?,A.\n',
        "data.csv",
    )
    assert csv_version.status == Status.READY, csv_version.validation_report
    csv_samples = list(version_samples(version=csv_version))
    assert [(s.external_id, s.source_line, s.text, s.prompt) for s in csv_samples] == [
        ("1", 2, "Multi\nline text", None),
        ("2", 4, None, "Q?"),
    ]

    text_version = upload(
        make_listing(provider_a, title="txt"),
        provider_a,
        b"First block\nstill first.\n\n\nSecond block.\n   \nThird.",
        "notes.txt",
    )
    assert text_version.status == Status.READY
    assert [
        (s.external_id, s.source_line, s.text) for s in version_samples(version=text_version)
    ] == [
        ("auto-1", 1, "First block\nstill first."),
        ("auto-5", 5, "Second block."),
        ("auto-7", 7, "Third."),
    ]

    buffer = io.BytesIO()
    pq.write_table(
        pa.table(
            {
                "id": ["p1", "p2", None],
                "text": ["Parquet one.", None, "Three."],
                "prompt": [None, "Q", None],
                "response": [None, "A", None],
            }
        ),
        buffer,
    )
    parquet_version = upload(
        make_listing(provider_a, title="pq"), provider_a, buffer.getvalue(), "data.parquet"
    )
    assert parquet_version.status == Status.READY, parquet_version.validation_report
    assert [
        (s.external_id, s.source_line, s.text, s.response)
        for s in version_samples(version=parquet_version)
    ] == [("p1", 1, "Parquet one.", None), ("p2", 2, None, "A"), ("auto-3", 3, "Three.", None)]
    assert parquet_version.progress_unit == "rows"


@pytest.mark.django_db
def test_language_is_detected(provider_a, make_listing):
    german = [
        {"text": "Der Hund ist nicht in dem Haus und die Katze ist auch nicht da, sagt er."}
        for _ in range(1)
    ] + [{"text": "Sie hat es mit dem Auto von der Stadt nach Hause gebracht, und das ist gut."}]
    version = upload(make_listing(provider_a), provider_a, jsonl(german))
    assert version.language == "de"


# --- malformed files: message and line for each case ----------------------------------------


BROKEN_JSONL = b"\n".join(
    [
        b'{"id": "ok1", "text": "fine"}',
        b'{"id": "x", "text": "unterminated}',
        b'["not", "an", "object"]',
        b'{"id": "y"}',
        b'{"id": "z", "text": "t", "prompt": "p", "response": "r"}',
        b'{"id": "w", "text": "   "}',
        b'{"id": "v", "text": "' + b"a" * 60 + b'"}',
        b'{"id": "ok1", "text": "same id again"}',
        b'{"id": 7, "text": ["list"]}',
        b'{"id": "u", "text": "caf\xe9"}',
        b'{"id": "t", "text": "x", "colour": "red"}',
        b'{"id": "s", "prompt": "only a prompt"}',
        b'{"id": "auto-3", "text": "reserved id"}',
        b'{"id": "ok2", "text": "fine too"}',
    ]
)


@pytest.mark.django_db
def test_every_malformed_row_is_reported_with_line_and_reason(provider_a, make_listing, settings):
    settings.SAMPLE_MAX_CHARS = 50
    version = upload(make_listing(provider_a), provider_a, BROKEN_JSONL)

    assert version.status == Status.VALIDATED
    report = version.validation_report
    assert (report["total_rows"], report["valid_rows"], report["invalid_rows"]) == (14, 2, 12)
    offset_of_bad_byte = BROKEN_JSONL.index(b"\xe9")
    assert errors_of(version) == [
        (2, "bad_json", "line 2: bad JSON: Unterminated string starting at (column 21)"),
        (3, "not_an_object", "line 3: expected a JSON object, got list"),
        (4, "missing_text", "line 4: has neither 'text' nor 'prompt' + 'response'"),
        (
            5,
            "text_and_pair",
            "line 5: has both 'text' and 'prompt'/'response'; use one or the other",
        ),
        (6, "empty_text", "line 6: 'text' is empty"),
        (7, "too_long", "line 7: 'text' is 60 characters; the limit is 50"),
        (8, "duplicate_id", "line 8: duplicate id 'ok1' (first used on line 1)"),
        (9, "not_a_string", "line 9: 'id' must be a string, got number"),
        (9, "not_a_string", "line 9: 'text' must be a string, got array"),
        (
            10,
            "invalid_utf8",
            f"line 10: invalid UTF-8 at byte offset {offset_of_bad_byte} (byte 25 of the line); "
            "save the file as UTF-8",
        ),
        (
            11,
            "unexpected_field",
            "line 11: unexpected field(s) 'colour'; allowed fields are id, text, prompt, response",
        ),
        (12, "missing_field", "line 12: has 'prompt' but no 'response'"),
        (13, "bad_id", "line 13: 'id' 'auto-3' is reserved for generated ids"),
    ]
    assert report["error_counts"]["not_a_string"] == 2
    assert report["errors"][9]["byte_offset"] == offset_of_bad_byte
    # Nothing is ingested while the provider decides.
    assert Sample.objects.filter(version=version).count() == 0
    assert version_samples(version=version).count() == 0


@pytest.mark.django_db
def test_report_lists_the_first_n_errors_but_counts_all(provider_a, make_listing, settings):
    settings.INGEST_REPORT_MAX_ERRORS = 3
    rows = b"\n".join([b"{bad"] * 10 + [b'{"text": "good"}'])
    version = upload(make_listing(provider_a), provider_a, rows)
    report = version.validation_report
    assert [e["line"] for e in report["errors"]] == [1, 2, 3]
    assert (report["error_count"], report["errors_truncated"]) == (10, True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "content", "code", "message"),
    [
        ("data.jsonl", b"\n\n  \n", "empty_file", "the file is empty: it contains no samples"),
        (
            "data.csv",
            b"text,colour\nhi,red\n",
            "unexpected_field",
            "line 1 (CSV header): unexpected column(s) 'colour'; allowed columns are "
            "id, text, prompt, response",
        ),
        (
            "data.csv",
            b"id,prompt\n1,hi\n",
            "missing_field",
            "line 1 (CSV header): needs a 'text' column or both 'prompt' and 'response' columns",
        ),
        ("data.csv", b"id,text\n", "empty_file", "the file is empty: it contains no samples"),
        ("data.parquet", b"PAR1 not really", "bad_parquet", None),
    ],
)
def test_file_level_errors_fail_the_version(
    provider_a, make_listing, filename, content, code, message
):
    version = upload(make_listing(provider_a), provider_a, content, filename)
    assert version.status == Status.FAILED
    fatal = version.validation_report["fatal"]
    assert fatal["code"] == code
    if message is not None:
        assert fatal["message"] == message
        assert version.error == message
    assert Sample.objects.filter(version=version).count() == 0


@pytest.mark.django_db
def test_csv_row_errors_have_lines(provider_a, make_listing):
    content = b'id,text\n1,ok\n2,"a","b"\n3,"bad"quote\n4,\n5,fine\n'
    version = upload(make_listing(provider_a), provider_a, content, "data.csv")
    assert version.status == Status.VALIDATED
    assert errors_of(version) == [
        (3, "wrong_field_count", "line 3: row has 3 fields but the header has 2"),
        (4, "bad_csv", "line 4: bad CSV: ',' expected after '\"'"),
        (5, "missing_text", "line 5: has neither 'text' nor 'prompt' + 'response'"),
    ]


@pytest.mark.django_db
def test_parquet_with_a_non_string_column_fails(provider_a, make_listing):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": [1, 2]}), buffer)
    version = upload(make_listing(provider_a), provider_a, buffer.getvalue(), "x.parquet")
    assert version.status == Status.FAILED
    assert version.error == "Parquet column 'text' has type int64; expected string"


@pytest.mark.django_db
def test_all_rows_invalid_fails(provider_a, make_listing):
    version = upload(make_listing(provider_a), provider_a, b"{bad\n{worse\n")
    assert version.status == Status.FAILED
    assert version.error == "None of the 2 rows is valid; see the validation report."


@pytest.mark.django_db
def test_refused_uploads_store_nothing(provider_a, provider_b, make_listing, settings, staff):
    listing = make_listing(provider_a)
    settings.UPLOAD_MAX_BYTES = 10
    with pytest.raises(Invalid) as too_big:
        upload(listing, provider_a, b'{"text": "more than ten bytes"}')
    assert too_big.value.field_messages == {
        "file": ["data.jsonl is 31 bytes; the upload limit is 10 bytes."]
    }
    settings.UPLOAD_MAX_BYTES = 10_000
    with pytest.raises(Invalid) as unknown:
        upload(listing, provider_a, b"hello", "data.xlsx")
    assert "cannot tell the format of 'data.xlsx'" in unknown.value.field_messages["file"][0]
    with pytest.raises(Invalid) as empty:
        upload(listing, provider_a, b"", "data.jsonl")
    assert empty.value.field_messages == {"file": ["data.jsonl is empty."]}
    with pytest.raises(NotAllowed):
        upload(listing, provider_b, b'{"text": "not mine"}')
    listing_take_down(listing=listing, actor=staff, reason="spam")
    with pytest.raises(Conflict) as closed:
        upload(listing, provider_a, b'{"text": "after take-down"}')
    assert (closed.value.status, closed.value.code, closed.value.message) == (
        409,
        "taken_down",
        "This listing was taken down by staff; uploads are closed.",
    )
    assert DatasetVersion.objects.count() == 0
    assert not default_storage.exists("datasets")


# --- the provider's choice ------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_valid_rows_only(provider_a, make_listing):
    listing = make_listing(provider_a)
    version = upload(listing, provider_a, b'{"text": "good one"}\n{bad\n{"text": "good two"}\n')
    assert version.status == Status.VALIDATED

    version = version_accept_valid_rows(version=version, actor=provider_a)

    assert version.status == Status.READY
    assert version.valid_rows_only is True
    assert [(s.external_id, s.source_line) for s in version_samples(version=version)] == [
        ("auto-1", 1),
        ("auto-3", 3),
    ]
    assert version.sample_count == 2


@pytest.mark.django_db
def test_choices_are_for_the_owner_and_the_right_state(provider_a, provider_b, make_listing):
    listing = make_listing(provider_a)
    version = upload(listing, provider_a, b'{"text": "good"}\n{bad\n')
    with pytest.raises(NotAllowed):
        version_accept_valid_rows(version=version, actor=provider_b)
    with pytest.raises(NotAllowed):
        version_discard(version=version, actor=provider_b)
    version.refresh_from_db()
    assert version.status == Status.VALIDATED
    ready = upload(make_listing(provider_a, title="r"), provider_a, b'{"text": "x"}')
    stored = ready.source_file.name
    with pytest.raises(Conflict) as accept:
        version_accept_valid_rows(version=ready, actor=provider_a)
    assert (accept.value.code, accept.value.message) == (
        "not_awaiting_choice",
        "Only a version awaiting your choice can be accepted (this one is ready).",
    )
    with pytest.raises(Conflict) as discard:
        version_discard(version=ready, actor=provider_a)
    assert (discard.value.code, discard.value.message) == (
        "not_discardable",
        "Only a version waiting to be processed, awaiting your choice or failed can be "
        "discarded (this one is ready).",
    )
    ready.refresh_from_db()
    assert (ready.status, ready.valid_rows_only) == (Status.READY, False)
    assert default_storage.exists(stored)


@pytest.mark.django_db
def test_accepting_a_version_that_changed_meanwhile_is_a_conflict(provider_a, make_listing):
    version = upload(make_listing(provider_a), provider_a, b'{"text": "good"}\n{bad\n')
    assert version.status == Status.VALIDATED
    # Another tab discarded it after this page was loaded.
    DatasetVersion.objects.filter(pk=version.pk).update(status=Status.DISCARDED)
    with pytest.raises(Conflict) as refused:
        version_accept_valid_rows(version=version, actor=provider_a)
    assert (refused.value.code, refused.value.message) == (
        "version_changed",
        "This version changed meanwhile; reload the page.",
    )
    version.refresh_from_db()
    assert (version.status, version.valid_rows_only) == (Status.DISCARDED, False)
    assert Sample.objects.filter(version=version).count() == 0


@pytest.mark.django_db
def test_upload_a_fixed_file(provider_a, make_listing):
    listing = make_listing(provider_a)
    broken = upload(listing, provider_a, b'{"text": "good"}\n{bad\n')
    stored = broken.source_file.name
    assert default_storage.exists(stored)

    discarded = version_discard(version=broken, actor=provider_a)
    assert discarded.status == Status.DISCARDED
    assert not default_storage.exists(stored)

    fixed = upload(listing, provider_a, b'{"text": "good"}\n{"text": "fixed"}\n')
    assert (fixed.number, fixed.status, fixed.sample_count) == (2, Status.READY, 2)


@pytest.mark.django_db
def test_a_new_upload_replaces_a_version_awaiting_a_choice(provider_a, make_listing):
    listing = make_listing(provider_a)
    broken = upload(listing, provider_a, b'{"text": "good"}\n{bad\n')
    fixed = upload(listing, provider_a, b'{"text": "good"}\n')
    broken.refresh_from_db()
    assert broken.status == Status.DISCARDED
    assert broken.error == "Replaced by a new upload."
    assert fixed.status == Status.READY


@pytest.mark.django_db
def test_a_version_in_progress_blocks_new_uploads(provider_a, make_listing):
    listing = make_listing(provider_a)
    version = upload(listing, provider_a, b'{"text": "one"}')
    DatasetVersion.objects.filter(pk=version.pk).update(status=Status.INGESTING)
    with pytest.raises(Conflict) as refused:
        upload(listing, provider_a, b'{"text": "two"}')
    assert refused.value.code == "version_in_progress"
    assert refused.value.messages == [
        "Version 1 is still being processed (ingesting); wait until it is finished."
    ]
    assert listing.versions.count() == 1


# --- staged state and atomicity -------------------------------------------------------------


@pytest.mark.django_db
def test_failure_mid_ingest_leaves_no_rows(provider_a, make_listing, settings, monkeypatch):
    settings.INGEST_BATCH_SIZE = 2
    listing = make_listing(provider_a)
    real_insert = version_services._insert_batch
    seen_during_ingest = []

    def flaky_insert(version, records, start_position):
        if start_position >= 4:
            # Rows of the first batches exist, but no selector shows them.
            seen_during_ingest.append(
                (
                    Sample.objects.filter(version=version).count(),
                    version_samples(version=version).count(),
                    sellable_samples().count(),
                )
            )
            raise RuntimeError("disk full")
        return real_insert(version, records, start_position)

    monkeypatch.setattr(version_services, "_insert_batch", flaky_insert)
    rows = [{"text": sentence(i)} for i in range(7)]
    version = upload(listing, provider_a, jsonl(rows))

    assert seen_during_ingest == [(4, 0, 0)]
    assert version.status == Status.FAILED
    assert version.error == "Ingest failed: disk full"
    assert (version.sample_count, version.token_count) == (0, 0)
    assert Sample.objects.filter(version=version).count() == 0
    assert SampleBand.objects.count() == 0
    listing.refresh_from_db()
    assert listing.current_version is None

    # The provider can simply upload again.
    monkeypatch.setattr(version_services, "_insert_batch", real_insert)
    again = upload(listing, provider_a, jsonl(rows))
    assert (again.status, again.sample_count) == (Status.READY, 7)


@pytest.mark.django_db
def test_failure_in_duplicate_detection_also_rolls_back(provider_a, make_listing, monkeypatch):
    from marketplace.services import duplicates

    def broken(**kwargs):
        raise ValueError("index unavailable")

    monkeypatch.setattr(duplicates, "duplicates_detect_for_version", broken)
    version = upload(make_listing(provider_a), provider_a, jsonl([{"text": "a b c d"}]))
    assert (version.status, version.error) == (Status.FAILED, "Ingest failed: index unavailable")
    assert Sample.objects.count() == 0


@pytest.mark.django_db
def test_redelivered_ingest_starts_over(provider_a, make_listing):
    """A worker that died mid-ingest left rows behind; the re-run removes them first."""
    listing = make_listing(provider_a)
    version = upload(listing, provider_a, jsonl([{"text": "one"}, {"text": "two"}]))
    DatasetVersion.objects.filter(pk=version.pk).update(status=Status.INGESTING)
    version.refresh_from_db()
    version_services.version_ingest(version=version)
    version.refresh_from_db()
    assert version.status == Status.READY
    assert Sample.objects.filter(version=version).count() == 2


@pytest.mark.django_db
def test_large_files_go_through_the_celery_task_with_progress(provider_a, make_listing, settings):
    settings.INGEST_ASYNC_THRESHOLD_BYTES = 10
    settings.INGEST_BATCH_SIZE = 3
    rows = [{"text": sentence(i)} for i in range(10)]
    content = jsonl(rows)
    version = upload(make_listing(provider_a), provider_a, content)
    assert version.status == Status.READY
    assert (version.progress_phase, version.progress_done, version.progress_total) == (
        "done",
        10,
        10,
    )
    assert version.validation_report["valid_rows"] == 10


@pytest.mark.django_db
def test_second_version_becomes_current(provider_a, make_listing):
    listing = make_listing(provider_a)
    first = upload(listing, provider_a, jsonl([{"text": "one two three four"}]))
    second = upload(listing, provider_a, jsonl([{"text": "one two three four"}, {"text": "x"}]))
    listing.refresh_from_db()
    assert (first.number, second.number) == (1, 2)
    assert listing.current_version_id == second.pk
    # Versions of one listing are not duplicates of each other.
    assert Sample.objects.filter(duplicate_of__isnull=False).count() == 0
    assert json.loads(json.dumps(first.validation_report))["valid_rows"] == 1


@pytest.mark.django_db
def test_staged_version_can_be_cancelled_and_stuck_ones_failed(provider_a, make_listing):
    listing = make_listing(provider_a)
    version = upload(listing, provider_a, jsonl([{"text": "one"}]))
    DatasetVersion.objects.filter(pk=version.pk).update(status=Status.STAGED)
    version.refresh_from_db()
    assert version_discard(version=version, actor=provider_a).status == Status.DISCARDED
    # A worker that picks the discarded version up later does nothing.
    assert version_services.version_process(version=version).status == Status.DISCARDED

    stuck = upload(listing, provider_a, jsonl([{"text": "two"}, {"text": "three"}]))
    DatasetVersion.objects.filter(pk=stuck.pk).update(status=Status.INGESTING)
    stuck.refresh_from_db()
    failed = version_services.version_fail_stuck(version=stuck, reason="Worker lost.")
    assert (failed.status, failed.error) == (Status.FAILED, "Worker lost.")
    assert Sample.objects.filter(version=stuck).count() == 0
    with pytest.raises(Conflict) as refused:
        version_services.version_fail_stuck(version=failed, reason="again")
    assert (refused.value.code, refused.value.message) == (
        "not_stuck",
        f"Version {failed.pk} is failed, not stuck in processing.",
    )
    failed.refresh_from_db()
    assert (failed.status, failed.error) == (Status.FAILED, "Worker lost.")
