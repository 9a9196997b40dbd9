"""Staff views of payment records. Read-only: money changes only through the services
(the one write offered, "retry transfer", calls ``payout_line_retry_reset``)."""

from django.contrib import admin, messages

from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderLine,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    Quote,
    Refund,
    TransferReversal,
    WebhookEvent,
)
from payments.services.payouts import payout_line_retry_reset


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "amount", "currency")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "provider", "currency", "created_at")
    list_filter = ("kind", "currency")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "idempotency_key", "order", "posted_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "memo")
    inlines = [LedgerEntryInline]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("sample_ref", "dataset_version_ref", "provider", "price", "payout")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "buyer",
        "status",
        "total",
        "fee",
        "amount_refunded",
        "currency",
        "gateway",
    )
    list_filter = ("status", "gateway")
    search_fields = ("checkout_session_id", "charge_id", "payment_intent_id")
    inlines = [OrderLineInline]


@admin.register(Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ("id", "buyer", "status", "total", "fee", "currency", "expires_at")
    list_filter = ("status",)


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "provider", "amount", "amount_refunded", "status", "attempts")
    list_filter = ("status",)
    search_fields = ("stripe_transfer_id",)
    actions = ["retry_transfer"]

    @admin.action(description="Retry the transfer (resets the attempt count)")
    def retry_transfer(self, request, queryset):
        for line in queryset:
            payout_line_retry_reset(payout_line_id=line.pk)
        messages.info(request, f"Queued {queryset.count()} transfer(s) for another try.")


@admin.register(TransferReversal)
class TransferReversalAdmin(ReadOnlyAdmin):
    list_display = ("id", "payout_line", "amount", "status", "attempts", "stripe_reversal_id")
    list_filter = ("status",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "amount", "cumulative_amount", "fee_part", "providers_part")


@admin.register(ProviderAccount)
class ProviderAccountAdmin(ReadOnlyAdmin):
    list_display = ("provider", "stripe_account_id", "charges_enabled", "payouts_enabled")


@admin.register(ProviderPayout)
class ProviderPayoutAdmin(ReadOnlyAdmin):
    list_display = ("stripe_payout_id", "provider", "amount", "currency", "status")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "status", "attempts", "received_at")
    list_filter = ("status", "type")
    search_fields = ("event_id",)
