"""REST endpoints for valuations, mounted at /api/valuation/ (config/api_urls.py).

    GET  /api/valuation/jobs/                 the caller's jobs
    POST /api/valuation/jobs/                 request a valuation (buyers)
    GET  /api/valuation/jobs/<id>/            status, stage, progress, ETA, fidelity, summary
    POST /api/valuation/jobs/<id>/cancel/     cancel a queued or running job
    POST /api/valuation/jobs/<id>/retry/      restart a failed or cancelled job
    GET  /api/valuation/jobs/<id>/listings/   per-listing figures, most valuable first
    GET  /api/valuation/jobs/<id>/scores/     samples ranked by value (no text)

Views are thin: selectors read, services write, service errors become the API's JSON error
shape (403 not allowed, 400 invalid request, 409 wrong state).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBuyer
from core.api import paginated
from core.errors import Conflict
from core.validators import BUDGET_MAX, ID_MAX
from marketplace.models import DatasetVersion
from marketplace.selectors import target_task_get_for_viewer
from valuation import conf, selectors
from valuation.models import ValuationJob
from valuation.services import valuation_job_cancel, valuation_job_request, valuation_job_retry
from valuation.services.jobs import MAX_SEED

# Serializer names are unique project-wide: drf-spectacular names schema components after them.


class ValuationStageCountsSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    samples = serializers.IntegerField()


class ValuationProgressSerializer(serializers.Serializer):
    status = serializers.CharField()
    status_label = serializers.CharField()
    stage = serializers.CharField()
    stage_label = serializers.CharField()
    done = serializers.IntegerField(help_text="Steps finished.")
    total = serializers.IntegerField(help_text="Steps planned.")
    percent = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField(allow_null=True)
    elapsed_text = serializers.CharField()
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Estimated time left.")
    eta_text = serializers.CharField()
    stages = serializers.DictField(child=ValuationStageCountsSerializer())
    retry_count = serializers.IntegerField()
    error = serializers.CharField()
    finished = serializers.BooleanField()


class ValuationJobSerializer(serializers.ModelSerializer):
    versions = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ValuationJob
        fields = [
            "id",
            "task",
            "versions",
            "status",
            "stage",
            "method",
            "model_spec",
            "model_identity",
            "label_fraction",
            "seed",
            "budget",
            "pool_size",
            "n_labelled",
            "n_labels_cached",
            "retry_count",
            "round",
            "error",
            "fidelity",
            "timings",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ValuationJobDetailSerializer(ValuationJobSerializer):
    progress = serializers.SerializerMethodField()
    summary = serializers.JSONField(read_only=True)

    class Meta(ValuationJobSerializer.Meta):
        fields = [*ValuationJobSerializer.Meta.fields, "progress", "summary"]
        read_only_fields = fields

    @extend_schema(exclude=True)
    def get_progress(self, job: ValuationJob) -> dict[str, Any]:
        return ValuationProgressSerializer(selectors.job_progress(job=job).as_dict()).data


class ValuationJobCreateSerializer(serializers.Serializer):
    task = serializers.IntegerField(
        min_value=1, max_value=ID_MAX, help_text="Id of one of your target tasks."
    )
    versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        allow_empty=False,
        max_length=500,
        help_text="Dataset version ids (the current ready version of published listings).",
    )
    model_spec = serializers.CharField(default=conf.DEFAULT_MODEL, max_length=200)
    method = serializers.ChoiceField(
        choices=ValuationJob.Method.choices, default=ValuationJob.Method.ALINFIK
    )
    label_fraction = serializers.FloatField(
        default=0.1,
        min_value=0.0,
        max_value=1.0,
        help_text="Greater than 0 and at most 1 (ignored for exact LinFiK).",
    )
    seed = serializers.IntegerField(default=0, min_value=0, max_value=MAX_SEED)
    budget = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=BUDGET_MAX,
        help_text="Optional budget in minor units (cents), at most 9,999,999,900; the subset "
        "choice starts from it.",
    )


class ValuationScoreSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    sample_id = serializers.IntegerField()
    external_id = serializers.CharField()
    listing_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    score = serializers.FloatField()
    is_exact = serializers.BooleanField()
    tokens = serializers.IntegerField()


class ValuationListingSummarySerializer(serializers.Serializer):
    listing_id = serializers.IntegerField()
    listing_title = serializers.CharField(source="listing.title")
    listing_slug = serializers.CharField(source="listing.slug")
    version_id = serializers.IntegerField()
    version_number = serializers.IntegerField(source="version.number")
    valued = serializers.IntegerField()
    exact = serializers.IntegerField()
    positive = serializers.IntegerField()
    negative = serializers.IntegerField()
    zero = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(source="low", allow_null=True)
    max = serializers.FloatField(source="high", allow_null=True)
    positive_value = serializers.FloatField(help_text="Sum of the positive sample values.")
    histogram = serializers.ListField(
        child=serializers.IntegerField(), help_text="Samples per bin of the job's bin_edges."
    )


class ValuationScoresQuerySerializer(serializers.Serializer):
    listing = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, help_text="Only this listing's samples."
    )


class ValuationPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ValuationApi(APIView):
    permission_classes = [IsAuthenticated]

    def job_or_404(self, request: Request, job_id: int) -> ValuationJob:
        job = selectors.job_get_for_user(job_id=job_id, user=request.user)
        if job is None:
            raise Http404("No such valuation.")
        return job


class ValuationJobListApi(ValuationApi):
    def get_permissions(self):
        if self.request.method == "POST":
            return [IsBuyer()]
        return super().get_permissions()

    @extend_schema(
        responses={200: paginated(ValuationJobSerializer)}, operation_id="valuation_jobs_list"
    )
    def get(self, request: Request) -> Response:
        paginator = ValuationPagination()
        jobs = selectors.job_list_for_buyer(buyer=request.user).prefetch_related("versions")
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(ValuationJobSerializer(page, many=True).data)

    @extend_schema(
        request=ValuationJobCreateSerializer,
        responses={201: ValuationJobDetailSerializer},
        operation_id="valuation_jobs_create",
    )
    def post(self, request: Request) -> Response:
        data = ValuationJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        task = target_task_get_for_viewer(task_id=values["task"], user=request.user)
        if task is None:
            raise ValidationError({"task": ["No such target task."]})
        versions = list(
            DatasetVersion.objects.filter(pk__in=values["versions"]).select_related("listing")
        )
        unknown = sorted(set(values["versions"]) - {version.pk for version in versions})
        if unknown:
            raise ValidationError(
                {"versions": [f"Unknown dataset version(s): {', '.join(map(str, unknown))}."]}
            )
        job = valuation_job_request(
            task=task,
            versions=versions,
            model_spec=values["model_spec"],
            method=values["method"],
            label_fraction=values["label_fraction"],
            seed=values["seed"],
            requested_by=request.user,
            budget=values.get("budget"),
        )
        return Response(ValuationJobDetailSerializer(job).data, status=status.HTTP_201_CREATED)


class ValuationJobDetailApi(ValuationApi):
    @extend_schema(
        responses={200: ValuationJobDetailSerializer}, operation_id="valuation_jobs_retrieve"
    )
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ValuationJobDetailSerializer(self.job_or_404(request, job_id)).data)


class ValuationJobCancelApi(ValuationApi):
    @extend_schema(
        request=None,
        responses={200: ValuationJobDetailSerializer},
        operation_id="valuation_jobs_cancel",
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = valuation_job_cancel(job=self.job_or_404(request, job_id), cancelled_by=request.user)
        return Response(ValuationJobDetailSerializer(job).data)


class ValuationJobRetryApi(ValuationApi):
    @extend_schema(
        request=None,
        responses={200: ValuationJobDetailSerializer},
        operation_id="valuation_jobs_retry",
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = valuation_job_retry(job=self.job_or_404(request, job_id), retried_by=request.user)
        return Response(ValuationJobDetailSerializer(job).data)


class ValuationJobListingsApi(ValuationApi):
    @extend_schema(
        responses={200: paginated(ValuationListingSummarySerializer)},
        operation_id="valuation_jobs_listings",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job_or_404(request, job_id)
        if job.status != ValuationJob.Status.SUCCEEDED:
            raise Conflict(
                "Per-listing figures are available once the valuation succeeded.", code="not_ready"
            )
        paginator = ValuationPagination()
        page = paginator.paginate_queryset(
            selectors.job_listing_summaries(job=job), request, view=self
        )
        data = ValuationListingSummarySerializer(page, many=True).data
        return paginator.get_paginated_response(data)


class ValuationJobScoresApi(ValuationApi):
    @extend_schema(
        responses={200: paginated(ValuationScoreSerializer)},
        parameters=[ValuationScoresQuerySerializer],
        operation_id="valuation_jobs_scores",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job_or_404(request, job_id)
        if job.status != ValuationJob.Status.SUCCEEDED:
            raise Conflict("Scores are available once the valuation succeeded.", code="not_ready")
        query = ValuationScoresQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        scores = selectors.job_ranked_scores(
            job=job, listing_id=query.validated_data.get("listing")
        )
        paginator = ValuationPagination()
        page = paginator.paginate_queryset(scores, request, view=self)
        first = paginator.page.start_index() if paginator.page is not None else 1
        rows = [
            {
                "rank": first + offset,
                "sample_id": score.sample_id,
                "external_id": score.sample.external_id,
                "listing_id": score.version.listing_id,
                "version_id": score.version_id,
                "score": score.score,
                "is_exact": score.is_exact,
                "tokens": score.sample.token_count,
            }
            for offset, score in enumerate(page)
        ]
        return paginator.get_paginated_response(ValuationScoreSerializer(rows, many=True).data)
