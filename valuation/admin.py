from django.contrib import admin
from django.db.models import Count

from valuation.models import (
    ExactLabelSet,
    ListingSummary,
    ModelFeatureSet,
    ValuationChunk,
    ValuationJob,
)


class ValuationChunkInline(admin.TabularInline):
    model = ValuationChunk
    extra = 0
    can_delete = False
    fields = ["stage", "index", "status", "size", "attempts", "worker", "seconds", "error"]
    readonly_fields = fields
    show_change_link = False


@admin.register(ValuationJob)
class ValuationJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "buyer",
        "task",
        "method",
        "model_spec",
        "status",
        "stage",
        "progress_done",
        "progress_total",
        "retry_count",
        "created_at",
    ]
    list_filter = ["status", "method", "model_spec"]
    search_fields = ["buyer__username", "task__name", "model_identity"]
    readonly_fields = [field.name for field in ValuationJob._meta.fields]
    inlines = [ValuationChunkInline]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are requested through valuation_job_request


@admin.register(ExactLabelSet)
class ExactLabelSetAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "model_identity", "target_set_hash", "seed", "created_at"]
    readonly_fields = ["model_identity", "version", "target_set_hash", "seed", "max_length"]


@admin.register(ModelFeatureSet)
class ModelFeatureSetAdmin(admin.ModelAdmin):
    list_display = ["id", "model_identity", "layers", "max_length", "dim", "samples", "created_at"]
    readonly_fields = ["model_identity", "layers", "max_length", "dim"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_samples=Count("rows"))

    @admin.display(description="Samples stored", ordering="n_samples")
    def samples(self, feature_set: ModelFeatureSet) -> int:
        return feature_set.n_samples


@admin.register(ListingSummary)
class ListingSummaryAdmin(admin.ModelAdmin):
    """Per-listing figures of finished jobs (written by the pipeline's last step)."""

    list_display = ["job", "listing", "version", "valued", "positive", "mean", "positive_value"]
    search_fields = ["listing__title", "job__buyer__username"]
    list_select_related = ["job", "listing", "version"]
    readonly_fields = [field.name for field in ListingSummary._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
