"""A target set can be pasted in the task page's box: one sample per line, or JSON Lines.
Same rules as an upload: all or nothing."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from core.errors import Invalid
from marketplace.models import TargetTask
from marketplace.selectors import target_samples
from marketplace.services.targets import (
    TargetSetInvalid,
    pasted_target_rows,
    target_set_paste,
    target_set_upload,
    target_task_create,
)

pytestmark = pytest.mark.django_db


def texts(task):
    return [(s.external_id, s.text, s.prompt, s.response) for s in target_samples(task=task)]


def test_one_sample_per_line_ignoring_blank_lines(buyer_a):
    task = target_task_create(buyer=buyer_a, name="Support")

    task = target_set_paste(
        task=task,
        actor=buyer_a,
        text="How do I reset my password?\n\n  Where is my order?  \r\nCancel my plan, please.\n",
    )

    assert task.status == TargetTask.Status.READY
    assert (task.sample_count, task.original_filename, task.format) == (3, "pasted.jsonl", "jsonl")
    assert [row[1] for row in texts(task)] == [
        "How do I reset my password?",
        "Where is my order?",
        "Cancel my plan, please.",
    ]
    # The same samples uploaded as a file give the same target set.
    again = target_task_create(buyer=buyer_a, name="Support as a file")
    again = target_set_upload(
        task=again,
        actor=buyer_a,
        filename="t.jsonl",
        file=io.BytesIO(
            pasted_target_rows(
                "How do I reset my password?\nWhere is my order?\nCancel my plan, please."
            )
        ),
    )
    assert again.target_set_hash == task.target_set_hash


def test_pasted_json_lines_keep_ids_and_pairs(buyer_a):
    task = target_task_create(buyer=buyer_a, name="QA")

    task = target_set_paste(
        task=task,
        actor=buyer_a,
        text='{"id": "q1", "prompt": "2+2?", "response": "4"}\n{"id": "q2", "text": "Hi"}\n',
    )

    assert texts(task) == [("q1", None, "2+2?", "4"), ("q2", "Hi", None, None)]


def test_a_bad_paste_changes_nothing(buyer_a):
    task = target_set_paste(
        task=target_task_create(buyer=buyer_a, name="T"), actor=buyer_a, text="keep me"
    )
    before = (task.target_set_hash, texts(task))

    with pytest.raises(TargetSetInvalid) as invalid:
        target_set_paste(task=task, actor=buyer_a, text='{"text": "fine"}\n{"text": \n')
    assert "1 of 2 rows are invalid" in invalid.value.field_messages["file"][0]
    with pytest.raises(Invalid) as empty:
        target_set_paste(task=task, actor=buyer_a, text=" \n \n")
    assert empty.value.field_messages == {"text": ["Paste at least one target sample."]}

    task.refresh_from_db()
    assert (task.target_set_hash, texts(task)) == before


def test_only_the_tasks_buyer_may_paste(buyer_a, buyer_b):
    task = target_task_create(buyer=buyer_a, name="Mine")
    with pytest.raises(Exception) as denied:
        target_set_paste(task=task, actor=buyer_b, text="sneaky")
    assert type(denied.value).__name__ == "NotAllowed"
    task.refresh_from_db()
    assert (task.status, task.sample_count) == (TargetTask.Status.DRAFT, 0)


def test_the_task_page_takes_a_paste_or_a_file_not_both(buyer_a):
    task = target_task_create(buyer=buyer_a, name="Page")
    client = Client()
    client.force_login(buyer_a)
    url = f"/tasks/{task.pk}/"

    page = client.get(url).content.decode()
    assert 'name="text"' in page and "Or paste samples" in page
    # The file and the box are alternatives: neither reads "(optional)".
    assert '<label class="form-label" for="id_file">File</label>' in page
    assert '<label class="form-label" for="id_text">Or paste samples</label>' in page

    neither = client.post(url, {"text": ""})
    assert "Choose a file to upload or paste samples in the box." in neither.content.decode()
    both = client.post(url, {"text": "a line", "file": io.BytesIO(b'{"text": "x"}\n')})
    assert "Upload a file or paste samples, not both." in both.content.decode()
    task.refresh_from_db()
    assert task.sample_count == 0

    saved = client.post(url, {"text": "first example\nsecond example"})
    assert saved.status_code == 302 and saved["Location"] == url
    task.refresh_from_db()
    assert (task.sample_count, task.status) == (2, TargetTask.Status.READY)
    assert "Target set saved." in client.get(url).content.decode()
