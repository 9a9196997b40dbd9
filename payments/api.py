"""REST endpoints for quotes, orders and provider balances. Thin: validate input, call one
service or selector, serialise the result. A refused action changes nothing."""

from __future__ import annotations

from django.http import Http404, HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBuyer, IsProvider
from core.errors import Invalid
from core.validators import BUDGET_MAX
from payments import conf, subset
from payments.errors import (
    PaymentProviderError,
)
from payments.gateways.base import GatewayError
from payments.models import Order
from payments.selectors.dataset_export import (
    order_dataset_card,
    order_file_stem,
    order_parquet_chunks,
)
from payments.selectors.downloads import (
    order_entitled_for_download,
    order_jsonl_lines,
)
from payments.selectors.ledger import provider_ledger_summary
from payments.selectors.quotes import quote_get_for_buyer
from payments.selectors.reports import order_get_for_viewer, order_list_for_buyer
from payments.services.orders import order_checkout_start, order_create_from_quote
from payments.services.quotes import quote_create_for_job
from valuation.api import ValuationApi

# Serializer names are unique project-wide: drf-spectacular names schema components after them.


def _provider_error(exc: GatewayError) -> PaymentProviderError:
    return PaymentProviderError(str(exc), code=exc.code or None)


class PaymentsQuoteCreateSerializer(serializers.Serializer):
    job_id = serializers.IntegerField(min_value=1)
    sample_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=100_000
    )
    include_non_positive = serializers.BooleanField(default=False)


class PaymentsQuoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.IntegerField(help_text="Minor units (cents).")
    fee = serializers.IntegerField()
    fee_bps = serializers.IntegerField()
    formula_version = serializers.CharField()
    sample_count = serializers.IntegerField()
    valuation_job_ref = serializers.CharField()
    model_identity = serializers.CharField()
    valuation_method = serializers.CharField()
    expires_at = serializers.DateTimeField()
    lines = serializers.JSONField()


class PaymentsOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    quote_id = serializers.IntegerField()
    status = serializers.CharField()
    gateway = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.IntegerField(help_text="Minor units (cents).")
    amount_refunded = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


class PaymentsCheckoutSerializer(serializers.Serializer):
    order = PaymentsOrderSerializer()
    checkout_url = serializers.CharField()


class PaymentsProviderBalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    earned = serializers.IntegerField()
    refunded = serializers.IntegerField()
    transferred = serializers.IntegerField()
    reversed = serializers.IntegerField()
    paid_out = serializers.IntegerField()
    owed = serializers.IntegerField()


class QuoteCreateApi(APIView):
    """Quote samples at the values a finished valuation job of yours gave them."""

    permission_classes = [IsBuyer]

    @extend_schema(request=PaymentsQuoteCreateSerializer, responses={201: PaymentsQuoteSerializer})
    def post(self, request: Request) -> Response:
        data = PaymentsQuoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote = quote_create_for_job(
            buyer=request.user,
            job_id=data.validated_data["job_id"],
            sample_ids=data.validated_data["sample_ids"],
            include_non_positive=data.validated_data["include_non_positive"],
            value_rate=conf.value_rate(),
        )
        return Response(PaymentsQuoteSerializer(quote).data, status=status.HTTP_201_CREATED)


class QuoteDetailApi(APIView):
    permission_classes = [IsBuyer]

    @extend_schema(responses={200: PaymentsQuoteSerializer})
    def get(self, request: Request, quote_id: int) -> Response:
        quote = quote_get_for_buyer(buyer=request.user, quote_id=quote_id)
        if quote is None:
            raise Http404("No such quote.")
        return Response(PaymentsQuoteSerializer(quote).data)


class QuoteAcceptApi(APIView):
    """Accept the quote: an order is opened and checkout starts; pay at ``checkout_url``."""

    permission_classes = [IsBuyer]

    @extend_schema(request=None, responses={201: PaymentsCheckoutSerializer})
    def post(self, request: Request, quote_id: int) -> Response:
        try:
            order = order_create_from_quote(quote_id=quote_id, buyer=request.user)
            start = order_checkout_start(order_id=order.pk, buyer=request.user)
        except GatewayError as exc:
            raise _provider_error(exc) from exc
        order.refresh_from_db()
        body = {"order": PaymentsOrderSerializer(order).data, "checkout_url": start.redirect_url}
        return Response(body, status=status.HTTP_201_CREATED)


class OrderListApi(APIView):
    permission_classes = [IsBuyer]

    @extend_schema(responses={200: PaymentsOrderSerializer(many=True)})
    def get(self, request: Request) -> Response:
        orders = order_list_for_buyer(buyer=request.user)[:200]
        return Response(PaymentsOrderSerializer(orders, many=True).data)


class OrderDetailApi(APIView):
    permission_classes = [IsBuyer]

    @extend_schema(responses={200: PaymentsOrderSerializer})
    def get(self, request: Request, order_id: int) -> Response:
        order = order_get_for_viewer(user=request.user, order_id=order_id)
        if order is None:
            raise Http404("No such order.")
        return Response(PaymentsOrderSerializer(order).data)


class _FileNegotiation(DefaultContentNegotiation):
    """``?format=`` names the file format here, not one of DRF's renderers: errors are
    rendered as JSON whatever it says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OrderDownloadApi(APIView):
    """The purchased samples, streamed: ``?format=jsonl`` (default) or ``parquet``. Open to
    the order's buyer while the order gives access (paid, not refunded), as the download
    on the order page; a refused download changes nothing."""

    permission_classes = [IsBuyer]
    content_negotiation_class = _FileNegotiation
    FORMATS = ("jsonl", "parquet")

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), description="jsonl or parquet")
        ],
        responses={
            (200, "application/x-ndjson"): bytes,
            (200, "application/vnd.apache.parquet"): bytes,
        },
    )
    def get(self, request: Request, order_id: int) -> StreamingHttpResponse:
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in self.FORMATS:
            raise Invalid(
                f"format must be one of {', '.join(self.FORMATS)}, got {fmt!r}",
                code="bad_format",
                field="format",
            )
        order = _downloadable_order(request, order_id)
        stem = order_file_stem(order=order)
        if fmt == "parquet":
            body, content_type = order_parquet_chunks(order=order), "application/vnd.apache.parquet"
        else:
            body = (line.encode() for line in order_jsonl_lines(order=order))
            content_type = "application/x-ndjson; charset=utf-8"
        response = StreamingHttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
        response["Cache-Control"] = "private, no-store"
        return response


class OrderDatasetCardApi(APIView):
    """The dataset card of the purchased samples (README.md, Hugging Face format): licences
    per listing, size, provenance, the valuation that chose them, columns."""

    permission_classes = [IsBuyer]

    @extend_schema(responses={(200, "text/markdown"): str})
    def get(self, request: Request, order_id: int) -> HttpResponse:
        order = _downloadable_order(request, order_id)
        response = HttpResponse(
            order_dataset_card(order=order), content_type="text/markdown; charset=utf-8"
        )
        response["Content-Disposition"] = 'inline; filename="README.md"'
        response["Cache-Control"] = "private, no-store"
        return response


def _downloadable_order(request: Request, order_id: int) -> Order:
    """The buyer's order with live access; another buyer's order is a 404, an unpaid or
    refunded one of yours a 403 with the reason."""
    order = order_get_for_viewer(user=request.user, order_id=order_id)
    if order is None or order.buyer_id != request.user.pk:  # staff read orders, not data
        raise Http404("No such order.")
    return order_entitled_for_download(order_id=order_id, user=request.user)


class ProviderBalanceApi(APIView):
    """Your earnings from the ledger, in minor units of the platform currency."""

    permission_classes = [IsProvider]

    @extend_schema(responses={200: PaymentsProviderBalanceSerializer})
    def get(self, request: Request) -> Response:
        summary = provider_ledger_summary(provider=request.user, currency=conf.platform_currency())
        body = {
            "currency": summary.currency,
            "earned": summary.earned,
            "refunded": summary.refunded,
            "transferred": summary.transferred,
            "reversed": summary.reversed,
            "paid_out": summary.paid_out,
            "owed": summary.owed,
        }
        return Response(PaymentsProviderBalanceSerializer(body).data)


class ValuationSubsetRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=subset.MODES)
    k = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)
    threshold = serializers.FloatField(required=False, min_value=-1e12, max_value=1e12)
    budget = serializers.IntegerField(
        min_value=0,
        max_value=BUDGET_MAX,
        required=False,
        help_text="Minor units (cents) of the listings' currency, at most 9,999,999,900.",
    )
    include_non_positive = serializers.BooleanField(default=False)


class ValuationSubsetSerializer(serializers.Serializer):
    mode = serializers.CharField()
    include_non_positive = serializers.BooleanField()
    count = serializers.IntegerField()
    sample_ids = serializers.ListField(child=serializers.IntegerField())
    total_value = serializers.CharField(help_text="Exact sum of values, as 'n/d'.")
    total_value_float = serializers.FloatField()
    exact_price = serializers.CharField(
        help_text="Exact sum of the chosen samples' prices in minor units, as 'n/d'."
    )
    estimated_price = serializers.IntegerField(
        help_text="What the quote for this subset charges (minor units): exact_price rounded up."
    )
    currency = serializers.CharField()
    candidate_count = serializers.IntegerField(help_text="Samples for sale to this buyer.")
    owned_count = serializers.IntegerField(
        help_text="Valued samples left out because the buyer already owns them."
    )


class ValuationJobSubsetApi(ValuationApi):
    """POST /api/valuation/jobs/<id>/subset/: choose a subset (top-k, threshold, budget); quote
    it with POST /api/payments/quotes/. Only the job's buyer may choose from it; anyone else
    gets 404 and nothing changes."""

    permission_classes = [IsBuyer]

    @extend_schema(
        request=ValuationSubsetRequestSerializer,
        responses={200: ValuationSubsetSerializer},
        operation_id="valuation_jobs_subset",
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job_or_404(request, job_id)
        if job.buyer_id != request.user.pk:
            raise Http404("No such valuation.")
        params = ValuationSubsetRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        preview = subset.job_subset_select(job=job, **params.validated_data)
        data = {
            "mode": preview.mode,
            "include_non_positive": preview.include_non_positive,
            "count": preview.count,
            "sample_ids": list(preview.sample_ids),
            "total_value": str(preview.total_value),
            "total_value_float": float(preview.total_value),
            "exact_price": str(preview.exact_price),
            "estimated_price": preview.estimated_price,
            "currency": preview.currency,
            "candidate_count": preview.candidate_count,
            "owned_count": preview.owned_count,
        }
        return Response(ValuationSubsetSerializer(data).data)
