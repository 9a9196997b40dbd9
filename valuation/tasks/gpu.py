"""Model work, routed to the ``gpu`` queue (CELERY_TASK_ROUTES: valuation.tasks.gpu.*).

Each worker process keeps the model, encoder and proxies it loaded (valuation.worker_cache).
Late acknowledgement plus reject-on-worker-lost (settings) make the broker redeliver a task
whose worker died; the step rows make the redelivery safe.
"""

from celery import shared_task

from valuation.models import ValuationChunk
from valuation.services import embeddings, model_features, pipeline
from valuation.tasks.base import run_step

Stage = ValuationChunk.Stage
OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="valuation.tasks.gpu.target_gradient", **OPTIONS)
def target_gradient(self, job_id: int, index: int = 0) -> str:
    return run_step(
        self,
        job_id=job_id,
        stage=Stage.TARGET,
        index=index,
        work=pipeline.target_gradient_compute,
    )


@shared_task(name="valuation.tasks.gpu.exact_chunk", **OPTIONS)
def exact_chunk(self, job_id: int, index: int) -> str:
    return run_step(
        self, job_id=job_id, stage=Stage.EXACT, index=index, work=pipeline.exact_chunk_compute
    )


@shared_task(name="valuation.tasks.gpu.embed_chunk", **OPTIONS)
def embed_chunk(self, job_id: int, index: int) -> str:
    return run_step(
        self, job_id=job_id, stage=Stage.EMBED, index=index, work=pipeline.embed_chunk_compute
    )


@shared_task(name="valuation.tasks.gpu.train_proxy", **OPTIONS)
def train_proxy(self, job_id: int, index: int = 0) -> str:
    return run_step(self, job_id=job_id, stage=Stage.TRAIN, index=index, work=pipeline.proxy_train)


@shared_task(name="valuation.tasks.gpu.proxy_chunk", **OPTIONS)
def proxy_chunk(self, job_id: int, index: int) -> str:
    return run_step(
        self, job_id=job_id, stage=Stage.PROXY, index=index, work=pipeline.proxy_chunk_compute
    )


@shared_task(name="valuation.tasks.gpu.embed_version", **OPTIONS)
def embed_version(self, version_id: int) -> int:
    """Ingest-time embeddings of a dataset version and its layer features for the models
    valuations use (only the missing ones; resumable). Returns the embeddings computed."""
    computed = embeddings.version_embeddings_compute(version_id=version_id)
    model_features.version_layer_features_at_ingest(version_id=version_id)
    return computed
