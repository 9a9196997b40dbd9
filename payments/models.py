"""Payments: quotes, orders, entitlements, payout lines, the ledger, Stripe state.

Money is always an integer amount of minor units (cents) with a lower-case ISO 4217 currency
code ("usd"), as Stripe writes it. Rows change only through ``payments.services``; balances
come from the ledger (``payments.selectors.ledger``), never from counters kept on the side.

Marketplace and valuation objects are referenced by plain ids (``sample_ref`` ...) on purpose:
a purchase and its entitlement must outlive a listing take-down or a re-run valuation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.validators import CURRENCY_VALIDATOR


def currency_field() -> models.CharField:
    return models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])


# --- Ledger ---------------------------------------------------------------------------------


class LedgerAccount(models.Model):
    """An account of the platform's double-entry ledger, in one currency.

    Amounts on entries are signed: debit positive, credit negative. Asset accounts
    (platform cash) carry a positive balance, liability and revenue accounts a negative one.
    """

    class Kind(models.TextChoices):
        PLATFORM_CASH = "platform_cash", "Platform cash (Stripe balance)"
        BUYER_CLEARING = "buyer_clearing", "Buyer payments clearing"
        PLATFORM_FEE_REVENUE = "platform_fee_revenue", "Platform fee revenue"
        FEE_REFUNDS = "fee_refunds", "Platform fees refunded"
        PROVIDER_PAYABLE = "provider_payable", "Owed to provider"

    PROVIDER_KINDS = frozenset({Kind.PROVIDER_PAYABLE})

    kind = models.CharField(max_length=32, choices=Kind.choices)
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    currency = currency_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "currency"],
                condition=Q(provider__isnull=True),
                name="payments_ledger_account_platform_unique",
            ),
            models.UniqueConstraint(
                fields=["kind", "provider", "currency"],
                condition=Q(provider__isnull=False),
                name="payments_ledger_account_provider_unique",
            ),
            models.CheckConstraint(
                condition=(Q(kind="provider_payable") & Q(provider__isnull=False))
                | (~Q(kind="provider_payable") & Q(provider__isnull=True)),
                name="payments_ledger_account_provider_iff_provider_kind",
            ),
        ]

    def __str__(self) -> str:
        owner = f" provider={self.provider_id}" if self.provider_id else ""
        return f"{self.kind}{owner} [{self.currency}]"


class LedgerTransaction(models.Model):
    """A balanced set of entries, posted once (``idempotency_key`` is unique)."""

    class Kind(models.TextChoices):
        BUYER_PAYMENT = "buyer_payment", "Buyer payment"
        PLATFORM_FEE = "platform_fee", "Platform fee"
        PROVIDER_PAYABLE = "provider_payable", "Provider payable"
        TRANSFER = "transfer", "Transfer to provider"
        REFUND = "refund", "Refund to buyer"
        REVERSAL = "reversal", "Transfer reversal"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=255, unique=True)
    order = models.ForeignKey(
        "payments.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_transactions",
    )
    payout_line = models.ForeignKey(
        "payments.PayoutLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_transactions",
    )
    refund = models.ForeignKey(
        "payments.Refund",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_transactions",
    )
    memo = models.CharField(max_length=255, blank=True)
    posted_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["kind", "posted_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class LedgerEntry(models.Model):
    """One leg of a transaction: a signed amount (debit > 0, credit < 0) on one account."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    currency = currency_field()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="payments_ledger_entry_amount_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency} on {self.account_id}"


# --- Connected accounts and payouts ------------------------------------------------------------


class ProviderAccount(models.Model):
    """A provider's Stripe connected account and the state ``account.updated`` last reported."""

    provider = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_currently_due = models.JSONField(default=list, blank=True)
    requirements_past_due = models.JSONField(default=list, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # Stripe `created` (epoch seconds) of the state applied last: older events are ignored.
    state_version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider_id}: {self.stripe_account_id or 'not onboarded'}"

    @property
    def payout_eligible(self) -> bool:
        """Transfers may be sent: onboarding finished and Stripe reports nothing blocking."""
        return bool(
            self.stripe_account_id
            and self.charges_enabled
            and self.payouts_enabled
            and not self.requirements_past_due
            and not self.disabled_reason
        )


class ProviderPayout(models.Model):
    """A payout from a provider's connected account to their bank, as Stripe reports it."""

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stripe_payouts",
    )
    stripe_account_id = models.CharField(max_length=255)
    stripe_payout_id = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    currency = currency_field()
    status = models.CharField(max_length=32)
    arrival_date = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=255, blank=True)
    failure_message = models.TextField(blank=True)
    state_version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stripe_payout_id} {self.amount} {self.currency} {self.status}"


# --- Quotes, orders, entitlements ----------------------------------------------------------------


class Quote(models.Model):
    """A priced subset offered to a buyer. Immutable once accepted; refused after expiry.

    The valuation inputs are plain values supplied by the caller (``ValuationMeta``), so a
    quote stays auditable whatever happens to the valuation job later.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quotes"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    currency = currency_field()
    total = models.BigIntegerField()
    fee = models.BigIntegerField()
    fee_bps = models.PositiveIntegerField()
    value_rate = models.CharField(max_length=64, help_text="Exact fraction 'n/d' or integer.")
    include_non_positive = models.BooleanField(default=False)
    formula_version = models.CharField(max_length=32)
    sample_count = models.PositiveIntegerField()
    lines = models.JSONField(help_text="payments.pricing.Quote.to_dict() as priced.")
    # Valuation inputs (the seam with valuation.*): plain values, filled by the caller.
    valuation_job_ref = models.CharField(max_length=64)
    target_task_ref = models.CharField(max_length=64, blank=True)
    model_identity = models.CharField(max_length=255)
    target_set_hash = models.CharField(max_length=128)
    valuation_method = models.CharField(max_length=32)
    fidelity = models.JSONField(
        default=dict, blank=True, help_text="Proxy fidelity on held-out exact labels."
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(fee__lte=F("total")), name="payments_quote_fee_range"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="payments_quote_expiry_after"
            ),
        ]

    def __str__(self) -> str:
        return f"Quote {self.pk}: {self.total} {self.currency} ({self.status})"

    @property
    def net(self) -> int:
        return self.total - self.fee


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    class Gateway(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        TEST = "test", "Test mode"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    quote = models.OneToOneField(Quote, on_delete=models.PROTECT, related_name="order")
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    gateway = models.CharField(max_length=16, choices=Gateway.choices)
    currency = currency_field()
    total = models.BigIntegerField()
    fee = models.BigIntegerField()
    amount_refunded = models.BigIntegerField(default=0)
    formula_version = models.CharField(max_length=32)
    quote_snapshot = models.JSONField()
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    charge_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(fee__lte=F("total")), name="payments_order_fee_range"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("total")),
                name="payments_order_refund_range",
            ),
        ]
        indexes = [models.Index(fields=["buyer", "-created_at"])]

    def __str__(self) -> str:
        return f"Order {self.pk}: {self.total} {self.currency} ({self.status})"

    @property
    def transfer_group(self) -> str:
        return f"order_{self.pk}"

    @property
    def net(self) -> int:
        return self.total - self.fee


class OrderLine(models.Model):
    """One purchased sample, priced and paid as the accepted quote said."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    sample_ref = models.CharField(max_length=64)
    dataset_version_ref = models.CharField(max_length=64)
    listing_ref = models.CharField(max_length=64)
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sold_order_lines"
    )
    token_count = models.PositiveIntegerField()
    # Exact fractions: a float's denominator can have hundreds of digits, so no length limit.
    value = models.TextField(help_text="Exact LinFiK value as 'n/d'.")
    price = models.TextField(
        default="0", help_text="Exact price to the buyer as 'n/d' minor units."
    )
    # The sample's whole-cent part of its dataset version's line (payments.pricing): the
    # lines of an order add up to its total, fee and provider payouts exactly.
    gross = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    payout = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "sample_ref"], name="payments_order_line_sample_once"
            ),
            models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(payout__gte=0) & Q(gross=F("fee") + F("payout")),
                name="payments_order_line_parts_sum",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} sample {self.sample_ref}"


class Entitlement(models.Model):
    """The buyer's right to the samples of a paid order (its order lines).

    Sample ids are kept as plain values on the order lines, so the entitlement survives a
    listing take-down. A full refund revokes it.
    """

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="entitlements"
    )
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="entitlement")
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Entitlement of order {self.order_id}"


class PayoutLine(models.Model):
    """What one provider is owed for one order, and the transfer that pays it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        TRANSFERRED = "transferred", "Transferred"
        FAILED = "failed", "Transfer failed"
        REVERSED = "reversed", "Reversed"
        CANCELLED = "cancelled", "Cancelled (refunded before transfer)"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payout_lines")
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_lines"
    )
    currency = currency_field()
    # The provider's part of the order: gross = fee + amount (payments.pricing). The gross
    # of an order's lines adds up to its total, their fees to its platform fee.
    gross = models.BigIntegerField()
    fee = models.BigIntegerField()
    amount = models.BigIntegerField(help_text="The payout: gross less the platform fee.")
    # Part of `amount` given back to the buyer by refunds (before or after the transfer).
    amount_refunded = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    transferred_amount = models.BigIntegerField(default=0)
    stripe_transfer_id = models.CharField(max_length=255, blank=True)
    destination_account_id = models.CharField(max_length=255, blank=True)
    # A declined transfer burns its idempotency key (Stripe replays the saved error), so the
    # next attempt uses the next generation; a network error keeps the key.
    key_generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "provider"], name="payments_payout_line_provider_once"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(fee__gte=0)
                & Q(gross=F("fee") + F("amount"))
                & Q(amount_refunded__gte=0)
                & Q(amount_refunded__lte=F("amount")),
                name="payments_payout_line_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"Payout line {self.pk}: {self.amount} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        base = f"payout-line-{self.pk}-transfer"
        return base if self.key_generation == 0 else f"{base}-retry-{self.key_generation}"

    @property
    def amount_due(self) -> int:
        """What a transfer would send now: the amount less what refunds took back."""
        return self.amount - self.amount_refunded


class Refund(models.Model):
    """A refund of an order, as one step of the charge's cumulative refunded amount."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    cumulative_amount = models.BigIntegerField()
    fee_part = models.BigIntegerField()
    providers_part = models.BigIntegerField()
    source = models.CharField(max_length=32)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "cumulative_amount"], name="payments_refund_step_once"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount=F("fee_part") + F("providers_part")),
                name="payments_refund_parts_sum",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} of order {self.order_id}"


class TransferReversal(models.Model):
    """Money taken back from a provider's transfer because the buyer was refunded."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    payout_line = models.ForeignKey(PayoutLine, on_delete=models.PROTECT, related_name="reversals")
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="reversals")
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=255, unique=True)
    stripe_reversal_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["payout_line", "refund"], name="payments_reversal_once_per_refund"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payments_reversal_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Reversal {self.amount} of payout line {self.payout_line_id} ({self.status})"


# --- Webhooks -------------------------------------------------------------------------------


class WebhookEvent(models.Model):
    """A verified Stripe event, stored once per event id and processed in the background."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (type not handled)"
        FAILED = "failed", "Failed"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=128)
    created = models.BigIntegerField(help_text="Stripe's `created`, epoch seconds.")
    account = models.CharField(max_length=255, blank=True, help_text="Connected account, if any.")
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
