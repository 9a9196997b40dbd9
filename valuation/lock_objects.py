"""Row locks for the valuation rows that concurrent workers mutate.

Every service that changes a job or a chunk reads it through one of these inside
``transaction.atomic()``: a chunk redelivered while another worker finishes it, a cancel
racing a finishing chunk, or two chord bodies racing to finalise serialise on the job row.
Lock order, always: job, then its chunks.
"""

from django.db.models import QuerySet

from valuation.models import ValuationChunk, ValuationJob


def job_qs_select_for_update() -> QuerySet[ValuationJob]:
    return ValuationJob.objects.select_for_update(of=("self",))


def chunk_qs_select_for_update() -> QuerySet[ValuationChunk]:
    return ValuationChunk.objects.select_for_update(of=("self",))
