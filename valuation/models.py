"""Valuation jobs, their chunks, per-sample scores, the exact-label cache and the cache of
proxy inputs read off a scored model.

A ``ValuationJob`` values a candidate pool (dataset versions) for one buyer's target task.
Its pipeline is split into steps, one ``ValuationChunk`` row each (plan, target gradient,
exact-label chunks, embedding chunks, proxy training, proxy-scoring chunks, finalise): the
row is what makes a Celery task idempotent, observable and recoverable.

Writes go through ``valuation.services``; models only hold data and invariants.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.validators import BUDGET_MAX


class ValuationJob(models.Model):
    class Method(models.TextChoices):
        ALINFIK = "alinfik", "ALinFiK (exact labels on a sample + learned proxy)"
        LINFIK = "linfik", "Exact LinFiK on every sample"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="valuation_jobs"
    )
    task = models.ForeignKey(
        "marketplace.TargetTask",
        on_delete=models.CASCADE,
        related_name="valuation_jobs",
        help_text="Deleting a task deletes its valuations (their steps then do nothing).",
    )
    versions = models.ManyToManyField(
        "marketplace.DatasetVersion", related_name="valuation_jobs", help_text="Candidate pool."
    )
    target_set_hash = models.CharField(
        max_length=64, help_text="The task's target-set hash when the job was requested."
    )
    model_spec = models.CharField(max_length=200, help_text="A name from VALUATION_MODELS.")
    model_identity = models.CharField(
        max_length=100, blank=True, help_text="sha256 of the model files; set when planned."
    )
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.ALINFIK)
    label_fraction = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of each version's samples labelled with exact LinFiK (ALinFiK).",
    )
    seed = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(2**31 - 1)])
    layer_features = models.ForeignKey(
        "ModelFeatureSet",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The scored model's layer features the proxy reads; set when planned.",
    )
    budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(BUDGET_MAX)],
        help_text="The buyer's budget in minor units, if given (1 to 9,999,999,900); the subset "
        "page starts from it.",
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=16, blank=True)
    progress_done = models.PositiveIntegerField(default=0, help_text="Steps finished.")
    progress_total = models.PositiveIntegerField(default=0, help_text="Steps planned.")
    pool_size = models.PositiveIntegerField(default=0, help_text="Samples valued.")
    n_labelled = models.PositiveIntegerField(default=0)
    n_labels_cached = models.PositiveIntegerField(
        default=0, help_text="Exact labels reused from the cache instead of computed."
    )
    planned = models.BooleanField(default=False)
    round = models.PositiveIntegerField(default=1, help_text="1 + number of manual retries.")
    dispatched_round = models.PositiveIntegerField(default=0)
    retry_count = models.PositiveIntegerField(
        default=0, help_text="Steps re-run in this round because their worker died."
    )
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    fidelity = models.JSONField(default=dict, blank=True, help_text="Proxy vs exact, holdout.")
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="Whole-pool figures of a finished job: counts, value range, histogram bins. "
        "Per-listing figures are ListingSummary rows.",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["buyer", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(label_fraction__gt=0) & Q(label_fraction__lte=1),
                name="valuation_job_label_fraction_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Valuation #{self.pk} of {self.task_id}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def storage_dir_name(self) -> str:
        return f"valuation/{self.pk}"


class ValuationChunk(models.Model):
    """One step of a job's pipeline, run by exactly one Celery task at a time."""

    class Stage(models.TextChoices):
        PLAN = "plan", "Planning"
        EMBED = "embed", "Sample embeddings and model features"
        TARGET = "target", "Target gradient"
        EXACT = "exact", "Exact LinFiK labels"
        TRAIN = "train", "Proxy training"
        PROXY = "proxy", "Proxy scoring"
        FINALISE = "finalise", "Finalising"

    # Pipeline order: a step runs only once every step of earlier stages is done. Embeddings
    # come first so that, in the canvas, two groups of chunks never follow each other.
    ORDER = ("plan", "embed", "target", "exact", "train", "proxy", "finalise")

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(ValuationJob, on_delete=models.CASCADE, related_name="chunks")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    size = models.PositiveIntegerField(default=0, help_text="Samples this step covers.")
    params = models.JSONField(
        default=dict, blank=True, help_text="What to process: sample ids or an id range."
    )
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the attempt.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0, help_text="Duration of the successful attempt.")

    class Meta:
        ordering = ["job_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "stage", "index"], name="valuation_chunk_unique"
            ),
        ]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.stage}#{self.index} ({self.status})"

    @property
    def stage_order(self) -> int:
        return self.ORDER.index(self.stage)


class SampleScore(models.Model):
    """A sample's value for a job: exact LinFiK (labelled) or the proxy's prediction."""

    job = models.ForeignKey(ValuationJob, on_delete=models.CASCADE, related_name="scores")
    sample = models.ForeignKey(
        "marketplace.Sample", on_delete=models.CASCADE, related_name="valuation_scores"
    )
    version = models.ForeignKey(
        "marketplace.DatasetVersion",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Denormalised from the sample, for per-listing summaries.",
    )
    score = models.FloatField()
    is_exact = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "sample"], name="valuation_score_unique"),
        ]
        indexes = [
            # Ranked pages (-score, then sample) read from the index alone.
            models.Index(fields=["job", "-score", "sample"]),
            models.Index(fields=["job", "version", "score"]),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} sample {self.sample_id}: {self.score:.4g}"


class ListingSummary(models.Model):
    """One listing's share of a finished job: counts, value statistics and a histogram on the
    job's bins. Rows, not a list in the job's summary: a job can span 10,000 listings and a
    results page shows a few of them, most valuable first."""

    job = models.ForeignKey(
        ValuationJob, on_delete=models.CASCADE, related_name="listing_summaries"
    )
    version = models.ForeignKey(
        "marketplace.DatasetVersion", on_delete=models.CASCADE, related_name="+"
    )
    listing = models.ForeignKey("marketplace.Listing", on_delete=models.CASCADE, related_name="+")
    valued = models.PositiveIntegerField(default=0, help_text="Samples with a score.")
    exact = models.PositiveIntegerField(default=0, help_text="Scores computed exactly.")
    positive = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    zero = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0, help_text="Not valued, never sold.")
    mean = models.FloatField(null=True, blank=True)
    low = models.FloatField(null=True, blank=True)
    high = models.FloatField(null=True, blank=True)
    positive_value = models.FloatField(default=0.0, help_text="Sum of the positive scores.")
    histogram = models.JSONField(default=list, blank=True, help_text="Samples per job bin.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "version"], name="valuation_listing_summary_unique"
            ),
        ]
        indexes = [models.Index(fields=["job", "-positive_value", "id"])]

    def __str__(self) -> str:
        return f"job {self.job_id} listing {self.listing_id}: {self.valued} valued"


class ExactLabelSet(models.Model):
    """Cache key of exact LinFiK labels: the same model, version, target set and seed give
    the same labelled samples and the same scores, whoever asks again."""

    model_identity = models.CharField(max_length=100)
    version = models.ForeignKey(
        "marketplace.DatasetVersion", on_delete=models.CASCADE, related_name="+"
    )
    target_set_hash = models.CharField(max_length=64)
    seed = models.PositiveIntegerField()
    max_length = models.PositiveIntegerField(help_text="Tokens kept per sample.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_identity", "version", "target_set_hash", "seed", "max_length"],
                name="valuation_label_set_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"labels v{self.version_id} {self.model_identity[:15]} seed {self.seed}"


class ExactLabel(models.Model):
    label_set = models.ForeignKey(ExactLabelSet, on_delete=models.CASCADE, related_name="labels")
    sample = models.ForeignKey("marketplace.Sample", on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["label_set", "sample"], name="valuation_exact_label_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label_set_id}/{self.sample_id}: {self.score:.4g}"


class ModelFeatureSet(models.Model):
    """Cache key of task-independent proxy inputs read off one scored model: its hidden
    state after the first ``layers`` decoder layers (engine ``layer_features.py``). Like a
    sample's sentence embedding, they never depend on a buyer's task, so each sample's row is
    computed once per model and reused by every valuation on that model."""

    model_identity = models.CharField(max_length=100)
    layers = models.PositiveSmallIntegerField(
        help_text="Decoder layers run (the setting, capped at the model's layer count)."
    )
    max_length = models.PositiveIntegerField(help_text="Tokens kept per sample.")
    dim = models.PositiveIntegerField(help_text="Values per sample (the model's hidden size).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_identity", "layers", "max_length"],
                name="valuation_model_feature_set_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"layer-{self.layers} features {self.model_identity[:15]} ({self.max_length})"


class SampleModelFeature(models.Model):
    """One sample's row of a ``ModelFeatureSet``: little-endian float32 bytes (``dim`` values);
    all zeros for a sample with no predicted token."""

    feature_set = models.ForeignKey(ModelFeatureSet, on_delete=models.CASCADE, related_name="rows")
    sample = models.ForeignKey("marketplace.Sample", on_delete=models.CASCADE, related_name="+")
    vector = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["feature_set", "sample"], name="valuation_sample_model_feature_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature_set_id}/{self.sample_id}"
