"""Payment pages and the Stripe webhook endpoint. Thin: each view calls one service or
selector and renders; a refused action shows the service's message and changes nothing."""

from __future__ import annotations

import csv
from fractions import Fraction
from urllib.parse import urlencode

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from accounts.permissions import role_required
from core.api import service_error_json
from core.money import format_money, format_share
from payments import conf, subset
from payments.charts import platform_revenue_chart, provider_earnings_chart
from payments.errors import GatewayNotConfiguredError, PaymentsError, WebhookPayloadError
from payments.forms import SubsetForm
from payments.gateways import gateway_is_test_mode
from payments.gateways.base import GatewayError, is_simulated_account
from payments.models import Order, Quote
from payments.selectors.accounts import connected_account_balances
from payments.selectors.downloads import (
    DownloadLinkExpired,
    DownloadNotAllowed,
    order_download_token,
    order_for_download,
    order_jsonl_lines,
)
from payments.selectors.quotes import (
    provider_quote_lines,
    quote_explanation,
    quote_get_for_buyer,
)
from payments.selectors.reconcile import reconciliation_mismatches
from payments.selectors.reports import (
    order_get_for_viewer,
    order_list_for_buyer,
    order_receipt_lines,
    platform_revenue_report,
    provider_payout_csv_rows,
    provider_report,
)
from payments.services.connect import (
    provider_account_refresh,
    provider_onboarding_link_create,
    provider_simulated_payout_create,
)
from payments.services.orders import (
    order_checkout_start,
    order_confirm_checkout,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create_for_job
from payments.services.webhooks import webhook_event_receive
from valuation.errors import ValuationError
from valuation.models import ValuationJob
from valuation.selectors import job_get_for_user

# --- Stripe webhook -------------------------------------------------------------------------


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify and store the event; processing happens in a Celery task after commit."""
    try:
        event, created = webhook_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except (WebhookPayloadError, GatewayNotConfiguredError) as exc:
        return service_error_json(exc)
    return JsonResponse({"received": event.event_id, "duplicate": not created})


# --- Buyers ---------------------------------------------------------------------------------


def _order_or_404(request: HttpRequest, order_id: int) -> Order:
    order = order_get_for_viewer(user=request.user, order_id=order_id)
    if order is None:
        raise Http404("No such order.")
    return order


@require_safe
@role_required("buyer", "staff")
def order_list(request: HttpRequest) -> HttpResponse:
    orders = list(order_list_for_buyer(buyer=request.user))
    for order in orders:
        order.download_url = _download_url(order) if _downloadable(order) else ""
    return render(request, "payments/order_list.html", {"orders": orders})


def _downloadable(order: Order) -> bool:
    entitlement = getattr(order, "entitlement", None)
    return (
        order.status != Order.Status.PENDING
        and entitlement is not None
        and (entitlement.revoked_at is None)
    )


def _download_url(order: Order) -> str:
    url = reverse("payments:order_download", args=[order.pk])
    return f"{url}?{urlencode({'token': order_download_token(order=order)})}"


@require_safe
@role_required("buyer")
def order_download(request: HttpRequest, order_id: int) -> HttpResponse:
    """Stream the purchased samples as JSONL, for a signed, unexpired link of this buyer."""
    try:
        order = order_for_download(
            token=request.GET.get("token", ""), order_id=order_id, user=request.user
        )
    except (DownloadLinkExpired, DownloadNotAllowed) as exc:  # a file link: plain text, 410/403
        return HttpResponse(
            exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(
        order_jsonl_lines(order=order), content_type="application/x-ndjson; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="datamarket-order-{order.pk}.jsonl"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@role_required("buyer", "staff")
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order_or_404(request, order_id)
    context = {
        "order": order,
        "lines": order_receipt_lines(order=order),
        "refunds": order.refunds.order_by("created_at"),
        "entitlement": getattr(order, "entitlement", None),
        "test_mode": order.gateway == Order.Gateway.TEST,
        "download_url": (
            _download_url(order)
            if order.buyer_id == request.user.pk and _downloadable(order)
            else ""
        ),
    }
    return render(request, "payments/order_detail.html", context)


@require_safe
@role_required("buyer")
def quote_detail(request: HttpRequest, quote_id: int) -> HttpResponse:
    quote = quote_get_for_buyer(buyer=request.user, quote_id=quote_id)
    if quote is None:
        raise Http404("No such quote.")
    context = {
        "quote": quote,
        "expired": quote.expires_at <= timezone.now(),
        "order": getattr(quote, "order", None) if quote.status == Quote.Status.ACCEPTED else None,
        "test_mode": gateway_is_test_mode(),
        "explanation": quote_explanation(quote=quote),
        "fee_percent": format_share(Fraction(quote.fee_bps, 10_000)),
    }
    return render(request, "payments/quote_detail.html", context)


@require_POST
@role_required("buyer")
def quote_accept(request: HttpRequest, quote_id: int) -> HttpResponse:
    """Accept the quote, open the order and go to checkout."""
    try:
        order = order_create_from_quote(quote_id=quote_id, buyer=request.user)
    except PaymentsError as exc:
        messages.error(request, str(exc))
        return redirect("payments:quote_detail", quote_id=quote_id)
    return _start_checkout(request, order.pk)


@require_POST
@role_required("buyer")
def order_checkout(request: HttpRequest, order_id: int) -> HttpResponse:
    return _start_checkout(request, order_id)


def _start_checkout(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        start = order_checkout_start(order_id=order_id, buyer=request.user)
    except (PaymentsError, GatewayError) as exc:
        messages.error(request, f"Checkout could not start: {exc}")
        return redirect("payments:order_detail", order_id=order_id)
    return HttpResponseRedirect(start.redirect_url)


@require_GET
@role_required("buyer")
def checkout_success(request: HttpRequest, order_id: int) -> HttpResponse:
    """Stripe's success redirect: confirm through the same service as the webhook."""
    order = _order_or_404(request, order_id)
    session_id = request.GET.get("session_id", "")
    if order.status == Order.Status.PENDING:
        if not session_id or session_id != order.checkout_session_id:
            messages.error(request, "This payment confirmation does not belong to this order.")
            return redirect("payments:order_detail", order_id=order.pk)
        try:
            order = order_confirm_checkout(session_id=session_id)
        except (PaymentsError, GatewayError) as exc:
            messages.error(request, f"We could not confirm the payment yet: {exc}")
            return redirect("payments:order_detail", order_id=order.pk)
    if order.status == Order.Status.PENDING:
        messages.info(request, "Stripe has not confirmed the payment yet; refresh in a moment.")
    else:
        messages.success(request, "Payment received. Your samples are ready.")
    return redirect("payments:order_detail", order_id=order.pk)


@require_safe
@role_required("buyer")
def test_checkout(request: HttpRequest, order_id: int) -> HttpResponse:
    if not gateway_is_test_mode():
        raise Http404("Test checkout is off: payments go through Stripe.")
    order = _order_or_404(request, order_id)
    if order.gateway != Order.Gateway.TEST:
        raise Http404("This order is not paid in test mode.")
    context = {"order": order, "lines": order_receipt_lines(order=order)}
    return render(request, "payments/test_checkout.html", context)


@require_POST
@role_required("buyer")
def test_checkout_pay(request: HttpRequest, order_id: int) -> HttpResponse:
    if not gateway_is_test_mode():
        raise Http404("Test checkout is off: payments go through Stripe.")
    try:
        order_test_payment_confirm(order_id=order_id, buyer=request.user)
    except PaymentsError as exc:
        messages.error(request, str(exc))
        return redirect("payments:order_detail", order_id=order_id)
    messages.success(request, "Test payment confirmed (no card was charged).")
    return redirect("payments:order_detail", order_id=order_id)


# --- Providers ------------------------------------------------------------------------------


@require_safe
@role_required("provider")
def payouts(request: HttpRequest) -> HttpResponse:
    currency = conf.platform_currency()
    report = provider_report(provider=request.user, currency=currency)
    account = report.account
    simulated = account is not None and is_simulated_account(account.stripe_account_id)
    context = {
        "report": report,
        "chart": provider_earnings_chart(report.periods, currency=currency),
        "test_mode": gateway_is_test_mode(),
        "simulated_account": simulated,
        "simulated_balance": (
            connected_account_balances(account_id=account.stripe_account_id).get(currency, 0)
            if simulated
            else 0
        ),
        "quote_lines": provider_quote_lines(provider=request.user),
        "fee_percent": format_share(Fraction(conf.platform_fee_bps(), 10_000)),
    }
    return render(request, "payments/payouts.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_safe
@role_required("provider")
def payouts_csv(request: HttpRequest) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    rows = provider_payout_csv_rows(provider=request.user, currency=conf.platform_currency())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="datamarket-payouts.csv"'
    return response


@require_POST
@role_required("provider")
def connect_start(request: HttpRequest) -> HttpResponse:
    return _onboarding_redirect(request)


@require_GET
@role_required("provider")
def connect_refresh(request: HttpRequest) -> HttpResponse:
    """Stripe's refresh_url: the old link expired or was used; make a NEW link."""
    return _onboarding_redirect(request)


def _onboarding_redirect(request: HttpRequest) -> HttpResponse:
    try:
        url = provider_onboarding_link_create(provider=request.user)
    except (PaymentsError, GatewayError) as exc:
        messages.error(request, f"Stripe onboarding is not available: {exc}")
        return redirect("payments:payouts")
    return HttpResponseRedirect(url)


@require_GET
@role_required("provider")
def connect_return(request: HttpRequest) -> HttpResponse:
    try:
        account = provider_account_refresh(provider=request.user)
    except (PaymentsError, GatewayError) as exc:
        messages.error(request, f"Could not read your Stripe account: {exc}")
        return redirect("payments:payouts")
    simulated = account is not None and is_simulated_account(account.stripe_account_id)
    if simulated and account.payout_eligible:
        messages.success(
            request,
            "Simulated payout account connected (test mode, no real money moves): your "
            "earnings are transferred to it now.",
        )
    elif account is not None and account.payout_eligible:
        messages.success(request, "Your Stripe account can receive payouts.")
    else:
        messages.info(request, "Stripe still needs some details before payouts can start.")
    return redirect(reverse("payments:payouts"))


@require_POST
@role_required("provider")
def connect_simulated_payout(request: HttpRequest) -> HttpResponse:
    """Test mode: pay the simulated account's balance out to its simulated bank."""
    try:
        made = provider_simulated_payout_create(provider=request.user)
    except PaymentsError as exc:
        messages.error(request, f"No simulated bank payout: {exc}")
        return redirect("payments:payouts")
    if made:
        paid = ", ".join(format_money(p.amount, p.currency) for p in made)
        messages.success(request, f"Simulated bank payout of {paid} paid (no real money moved).")
    else:
        messages.info(request, "Nothing to pay out: no transferred money waits in the account.")
    return redirect("payments:payouts")


# --- Staff ----------------------------------------------------------------------------------


@require_safe
@role_required("staff")
def revenue(request: HttpRequest) -> HttpResponse:
    currency = conf.platform_currency()
    report = platform_revenue_report(currency=currency)
    chart = platform_revenue_chart(report.periods, currency=currency)
    return render(request, "payments/revenue.html", {"report": report, "chart": chart})


@require_safe
@role_required("staff")
def reconcile(request: HttpRequest) -> HttpResponse:
    """The same checks as ``manage.py payments_reconcile``, on a page."""
    mismatches = reconciliation_mismatches()
    return render(request, "payments/reconcile.html", {"mismatches": mismatches})


# --- choosing a subset of a finished valuation (mounted under /valuation/, config/urls.py) ---


@role_required("buyer")
def job_subset(request: HttpRequest, job_id: int) -> HttpResponse:
    """Preview a subset (GET with the form's fields) and quote it (POST: recomputed here, so
    the quote is for exactly what the rule picks). Only the job's own buyer may use it."""
    job = job_get_for_user(job_id=job_id, user=request.user)
    if job is None or job.buyer_id != request.user.pk:
        raise Http404("No such valuation.")
    if job.status != ValuationJob.Status.SUCCEEDED:
        messages.info(request, "You can choose a subset once the valuation has finished.")
        return redirect("valuation:job_detail", job_id=job.pk)
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = SubsetForm(data, initial=subset.subset_initial(job=job))
    preview = None
    if form.is_bound and form.is_valid():
        try:
            preview = subset.job_subset_select(job=job, **form.selection_kwargs())
        except ValuationError as error:
            form.add_error(None, str(error))
    if request.method == "POST" and preview is not None:
        try:
            quote = quote_create_for_job(
                buyer=request.user,
                job_id=job.pk,
                sample_ids=list(preview.sample_ids),
                value_rate=conf.value_rate(),
                include_non_positive=preview.include_non_positive,
            )
        except PaymentsError as error:
            form.add_error(None, f"No quote: {error}")
        else:
            return redirect("payments:quote_detail", quote_id=quote.pk)
    return render(
        request, "payments/job_subset.html", {"job": job, "form": form, "preview": preview}
    )
