"""Buyers' target tasks: create, upload a target set (all or nothing), privacy."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import Invalid, NotAllowed
from marketplace import fingerprints
from marketplace.models import TargetSample, TargetTask
from marketplace.selectors import target_samples, target_task_get_for_viewer, target_tasks_visible
from marketplace.services.targets import (
    TargetSetInvalid,
    target_set_upload,
    target_task_create,
    target_task_delete,
    target_task_update,
)
from tests.marketplace.conftest import jsonl


def upload_target(task, actor, content: bytes, filename: str = "target.jsonl"):
    return target_set_upload(task=task, actor=actor, file=io.BytesIO(content), filename=filename)


@pytest.mark.django_db
def test_create_and_upload_a_target_set(buyer_a):
    task = target_task_create(buyer=buyer_a, name=" Legal QA ", description="Contracts.")
    assert (task.name, task.status, task.sample_count) == ("Legal QA", TargetTask.Status.DRAFT, 0)

    rows = [
        {"id": "t1", "prompt": "What is consideration?", "response": "Something of value."},
        {"id": "t2", "text": "A contract needs offer and acceptance."},
    ]
    task = upload_target(task, buyer_a, jsonl(rows))

    assert task.status == TargetTask.Status.READY
    assert (task.sample_count, task.format, task.original_filename) == (2, "jsonl", "target.jsonl")
    digests = [
        fingerprints.content_digest(
            text=None, prompt=rows[0]["prompt"], response=rows[0]["response"]
        ),
        fingerprints.content_digest(text=rows[1]["text"], prompt=None, response=None),
    ]
    assert task.target_set_hash == fingerprints.content_hash_of(digests)
    samples = list(target_samples(task=task))
    assert [(s.external_id, s.position) for s in samples] == [("t1", 0), ("t2", 1)]
    assert task.token_count == sum(s.token_count for s in samples) > 0


@pytest.mark.django_db
def test_an_invalid_target_file_changes_nothing(buyer_a):
    task = target_task_create(buyer=buyer_a, name="T")
    task = upload_target(task, buyer_a, jsonl([{"text": "keep me"}]))
    before = (task.target_set_hash, task.sample_count, list(target_samples(task=task)))

    with pytest.raises(TargetSetInvalid) as invalid:
        upload_target(task, buyer_a, b'{"text": "fine"}\n{"text": ""}\n')
    assert invalid.value.field_messages == {
        "file": [
            "1 of 2 rows are invalid (first: line 2: 'text' is empty); "
            "fix the file and upload it again"
        ]
    }
    assert invalid.value.report["errors"] == [
        {"line": 2, "code": "empty_text", "message": "line 2: 'text' is empty", "field": "text"}
    ]
    with pytest.raises(TargetSetInvalid) as empty:
        upload_target(task, buyer_a, b"\n")
    assert empty.value.report["fatal"]["code"] == "empty_file"
    with pytest.raises(Invalid):
        upload_target(task, buyer_a, b"x", "target.docx")

    task.refresh_from_db()
    assert (task.target_set_hash, task.sample_count, list(target_samples(task=task))) == before


@pytest.mark.django_db
def test_target_limits(buyer_a, settings):
    settings.TARGET_MAX_SAMPLES = 2
    task = target_task_create(buyer=buyer_a, name="T")
    with pytest.raises(TargetSetInvalid) as too_many:
        upload_target(task, buyer_a, jsonl([{"text": f"row {i}"} for i in range(3)]))
    assert too_many.value.field_messages["file"] == [
        "a target set has at most 2 samples; this file has more"
    ]
    settings.TARGET_UPLOAD_MAX_BYTES = 5
    with pytest.raises(Invalid) as too_big:
        upload_target(task, buyer_a, b'{"text": "x"}')
    assert "target sets are limited to 5 bytes" in too_big.value.field_messages["file"][0]
    assert TargetSample.objects.count() == 0


@pytest.mark.django_db
def test_replacing_a_target_set(buyer_a):
    task = target_task_create(buyer=buyer_a, name="T")
    upload_target(task, buyer_a, jsonl([{"text": "one"}, {"text": "two"}]))
    task = upload_target(task, buyer_a, b"only block\n", "target.txt")
    assert task.sample_count == 1
    assert [s.text for s in target_samples(task=task)] == ["only block"]


@pytest.mark.django_db
def test_target_tasks_are_private(buyer_a, buyer_b, provider_a, staff):
    task = target_task_create(buyer=buyer_a, name="Secret")
    assert target_task_get_for_viewer(task_id=task.pk, user=buyer_a) == task
    assert target_task_get_for_viewer(task_id=task.pk, user=staff) == task
    for other in (buyer_b, provider_a, AnonymousUser()):
        assert target_task_get_for_viewer(task_id=task.pk, user=other) is None
    assert list(target_tasks_visible(user=buyer_b)) == []

    for action in (
        lambda: target_task_update(task=task, actor=buyer_b, name="x", description=""),
        lambda: upload_target(task, buyer_b, jsonl([{"text": "x"}])),
        lambda: target_task_delete(task=task, actor=buyer_b),
    ):
        with pytest.raises(NotAllowed):
            action()
    task.refresh_from_db()
    assert (task.name, task.sample_count) == ("Secret", 0)
    with pytest.raises(NotAllowed):
        target_task_create(buyer=provider_a, name="not a buyer")
    assert TargetTask.objects.count() == 1
