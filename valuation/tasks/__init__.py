"""Celery tasks of the valuation pipeline: ``gpu`` (model work) and ``orchestration``.

Importing this package registers the tasks (``app.autodiscover_tasks``) and, where the
broker cannot redeliver a lost message (embedded filesystem transport), hooks the worker's
start to re-send the tasks of steps whose worker died.
"""

from celery.signals import worker_ready

from valuation.tasks import gpu, orchestration

__all__ = ["gpu", "orchestration"]


@worker_ready.connect
def _recover_interrupted_steps(sender=None, **kwargs) -> None:
    from valuation import conf

    if conf.redispatch_on_worker_start():
        from django.utils import timezone

        ready_at = timezone.now().isoformat()
        orchestration.recover_interrupted.apply_async(kwargs={"worker_ready_at": ready_at})
