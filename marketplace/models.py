"""The marketplace's data: listings, their immutable dataset versions and samples, and
buyers' target tasks.

Visibility rules (enforced by ``marketplace.selectors``, never by callers):

* Only ``READY`` versions are ever shown or sold. Rows of a version that is still
  ``INGESTING`` exist in the database but are invisible; on failure they are deleted.
* A listing's *current* version (``Listing.current_version``) is its latest ready version;
  only the current version's samples are sold (older versions stay for past buyers).
* A sample with ``duplicate_of`` set is never sold nor paid for.

Writes go through ``marketplace.services``; models only hold data and invariants.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.validators import CURRENCY_VALIDATOR, FLOOR_PRICE_MAX


class Tag(models.Model):
    """A free-form listing tag, stored as a slug (lowercase, hyphens)."""

    name = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Listing(models.Model):
    """A provider's dataset offer: datasheet, licence, floor price and its versions."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        UNPUBLISHED = "unpublished", "Unpublished"
        TAKEN_DOWN = "taken_down", "Taken down"

    class PreviewMode(models.TextChoices):
        RANDOM = "random", "Random samples"
        PICKED = "picked", "Samples I pick"

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="listings"
    )
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)

    # Datasheet ("Datasheets for Datasets"-style, the questions buyers ask first).
    source = models.TextField(blank=True, help_text="Where the data comes from.")
    collection_method = models.TextField(blank=True, help_text="How it was collected/cleaned.")
    language = models.CharField(
        max_length=16, blank=True, help_text="Declared language (ISO 639-1 code, e.g. 'en')."
    )
    intended_use = models.TextField(blank=True)
    known_limitations = models.TextField(blank=True)
    licence = models.CharField(
        max_length=128, help_text="SPDX licence id or AND/OR expression, see licences.py."
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="listings")

    floor_price_per_1k_tokens = models.PositiveBigIntegerField(
        validators=[MaxValueValidator(FLOOR_PRICE_MAX)],
        help_text="Floor price per 1,000 tokens, in minor units (cents) of ``currency``; "
        "at most 100,000,000 (1,000,000.00).",
    )
    currency = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])

    preview_mode = models.CharField(
        max_length=16, choices=PreviewMode.choices, default=PreviewMode.RANDOM
    )
    preview_sample_ids = models.JSONField(
        default=list, blank=True, help_text="External ids shown when preview_mode is 'picked'."
    )
    preview_size = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    current_version = models.ForeignKey(
        "DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest ready version: the one sold. Set by the ingest service.",
    )
    listed_at = models.DateTimeField(
        null=True, blank=True, help_text="First publication; decides who listed data earlier."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    takedown_reason = models.TextField(blank=True)
    taken_down_at = models.DateTimeField(null=True, blank=True)
    taken_down_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "listed_at"]),
            models.Index(fields=["status", "floor_price_per_1k_tokens"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="taken_down") | Q(taken_down_at__isnull=False),
                name="listing_taken_down_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.PUBLISHED


class DatasetVersion(models.Model):
    """One uploaded file of a listing. Immutable once ``READY``.

    Lifecycle: ``STAGED`` (file stored) -> ``VALIDATING`` -> either ``INGESTING`` (no errors)
    or ``VALIDATED`` (errors found: the provider chooses "ingest the valid rows" -> ``INGESTING``,
    or "upload a fixed file" -> ``DISCARDED``) -> ``READY``. Any fatal problem ends in
    ``FAILED`` with a readable ``error``; a failed ingest leaves no sample rows behind.
    """

    class Status(models.TextChoices):
        STAGED = "staged", "Staged"
        VALIDATING = "validating", "Validating"
        VALIDATED = "validated", "Validated with errors (awaiting your choice)"
        INGESTING = "ingesting", "Ingesting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        TEXT = "text", "Plain text"
        PARQUET = "parquet", "Parquet"

    IN_PROGRESS = (Status.STAGED, Status.VALIDATING, Status.VALIDATED, Status.INGESTING)

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source_file = models.FileField(upload_to="datasets/", max_length=255, blank=True)
    original_filename = models.CharField(max_length=255)
    format = models.CharField(max_length=16, choices=Format.choices)
    file_size = models.PositiveBigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64)
    content_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="Order-independent hash of the normalised samples (see ingest.records).",
    )
    sample_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveBigIntegerField(default=0)
    language = models.CharField(max_length=16, blank=True, help_text="Detected; 'und' unknown.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STAGED)
    valid_rows_only = models.BooleanField(
        default=False, help_text="The provider chose to ingest the valid rows and skip the rest."
    )
    validation_report = models.JSONField(default=dict, blank=True)
    progress_phase = models.CharField(max_length=16, blank=True)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    progress_unit = models.CharField(max_length=8, blank=True, help_text="'bytes' or 'rows'.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["listing_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["listing", "number"], name="version_number_unique"),
        ]
        indexes = [models.Index(fields=["listing", "status"])]

    def __str__(self) -> str:
        return f"{self.listing} v{self.number}"

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def is_in_progress(self) -> bool:
        return self.status in self.IN_PROGRESS


class SampleContent(models.Model):
    """Fields shared by dataset samples and buyers' target samples.

    Exactly one of ``text`` or the pair ``prompt`` + ``response`` is set.
    """

    position = models.PositiveIntegerField(help_text="0-based order among the ingested rows.")
    source_line = models.PositiveIntegerField(help_text="1-based line (or row) in the file.")
    external_id = models.CharField(max_length=200, help_text="The file's `id`, or generated.")
    text = models.TextField(null=True, blank=True)
    prompt = models.TextField(null=True, blank=True)
    response = models.TextField(null=True, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    norm_hash = models.CharField(
        max_length=64, db_index=True, help_text="sha256 of the normalised text (exact dupes)."
    )
    minhash = models.BinaryField(
        blank=True, help_text="MinHash signature: 128 little-endian uint32 (word 3-shingles)."
    )
    embedding = models.BinaryField(
        null=True, blank=True, help_text="Sentence embedding, stored by the valuation service."
    )

    class Meta:
        abstract = True

    @property
    def is_pair(self) -> bool:
        return self.text is None

    @property
    def display_text(self) -> str:
        if self.text is not None:
            return self.text
        return f"{self.prompt}\n{self.response}"


_ONE_SHAPE = (Q(text__isnull=False) & Q(prompt__isnull=True) & Q(response__isnull=True)) | (
    Q(text__isnull=True) & Q(prompt__isnull=False) & Q(response__isnull=False)
)


class Sample(SampleContent):
    """One training sample of a dataset version."""

    class DuplicateKind(models.TextChoices):
        EXACT = "exact", "Exact duplicate"
        NEAR = "near", "Near duplicate"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="samples")
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        help_text="The earlier-listed original (always a root, never itself a duplicate).",
    )
    duplicate_kind = models.CharField(
        max_length=8, choices=DuplicateKind.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["version_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "external_id"], name="sample_external_id_unique"
            ),
            models.UniqueConstraint(fields=["version", "position"], name="sample_position_unique"),
            models.CheckConstraint(condition=_ONE_SHAPE, name="sample_text_or_pair"),
            models.CheckConstraint(
                condition=Q(duplicate_of__isnull=True, duplicate_kind="")
                | Q(duplicate_of__isnull=False, duplicate_kind__in=["exact", "near"]),
                name="sample_duplicate_kind_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} #{self.external_id}"


class SampleBand(models.Model):
    """One near-duplicate index key of a sample (see ``marketplace.fingerprints``).

    Keys are signed 64-bit hashes: the 16 LSH bands of the MinHash signature (band number
    mixed in), plus one-edit keys for short texts. One index on ``key`` finds every sample
    sharing a key with a new one, across all listings, with plain lookups.
    """

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="bands")
    key = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"{self.sample_id}:{self.key}"


class TargetTask(models.Model):
    """A buyer's task: a small private target set that candidate data is valued against."""

    class Status(models.TextChoices):
        DRAFT = "draft", "No target set yet"
        READY = "ready", "Ready"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="target_tasks"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    target_set_hash = models.CharField(max_length=64, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16, choices=DatasetVersion.Format.choices, blank=True)
    sample_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveBigIntegerField(default=0)
    language = models.CharField(max_length=16, blank=True)
    target_set_uploaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class TargetSample(SampleContent):
    """One sample of a buyer's target set; private to that buyer and staff."""

    task = models.ForeignKey(TargetTask, on_delete=models.CASCADE, related_name="samples")

    class Meta:
        ordering = ["task_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "external_id"], name="target_sample_external_id_unique"
            ),
            models.UniqueConstraint(
                fields=["task", "position"], name="target_sample_position_unique"
            ),
            models.CheckConstraint(condition=_ONE_SHAPE, name="target_sample_text_or_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.external_id}"


class AccessGrant(models.Model):
    """A user's right to read one sample in full, e.g. because they bought it.

    Written by ``marketplace.services.access`` for whoever sells access (payments, per paid
    order); read by the marketplace and valuation pages. Sample and listing are plain ids, not
    foreign keys, so a grant outlives a listing take-down like the purchase it records.
    ``source`` names what granted it (``order:<id>``); revoking a source (a full refund)
    revokes all its grants at once.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_grants"
    )
    sample_ref = models.BigIntegerField()
    listing_ref = models.BigIntegerField()
    source = models.CharField(max_length=64)
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "sample_ref"], name="marketplace_access_grant_once_per_source"
            )
        ]
        indexes = [models.Index(fields=["user", "revoked_at"], name="mkt_access_user_live")]

    def __str__(self) -> str:
        return f"Access of user {self.user_id} to sample {self.sample_ref} ({self.source})"
