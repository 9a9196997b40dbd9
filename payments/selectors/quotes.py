"""Reads behind the quote pages: a quote's price explained to its buyer (listings, rounding,
provider shares) and the quote lines that concern a provider.

Quotes keep their lines as a JSON snapshot taken when they were priced; these read it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from django.contrib.auth.models import AbstractBaseUser

from payments.models import Quote
from payments.selectors.names import listing_titles, provider_names


def quote_get_for_buyer(*, buyer: AbstractBaseUser, quote_id: int) -> Quote | None:
    return Quote.objects.filter(pk=quote_id, buyer=buyer).first()


@dataclass(frozen=True)
class QuoteShareLine:
    """One provider's part of a quote: its share of the subset's value, gross, fee, payout."""

    provider_id: str
    recipient: str
    value_share: Fraction  # of the subset's positive value
    gross: int
    fee: int
    payout: int


def quote_share_lines(*, quote: Quote) -> list[QuoteShareLine]:
    """The quote's provider lines with display names."""
    providers = quote.lines.get("providers", [])
    names = provider_names(refs=[line["provider_id"] for line in providers])
    return [
        QuoteShareLine(
            provider_id=line["provider_id"],
            recipient=names[line["provider_id"]],
            value_share=Fraction(line["value_share"]),
            gross=line["gross"],
            fee=line["fee"],
            payout=line["amount"],
        )
        for line in providers
    ]


@dataclass(frozen=True)
class QuoteListingLine:
    """How one listing's samples make up the quote's price (exact amounts, in minor units)."""

    title: str
    samples: int
    tokens: int
    floor_per_1k_tokens: int
    floor_amount: Fraction
    premium: Fraction

    @property
    def subtotal(self) -> Fraction:
        return self.floor_amount + self.premium


@dataclass(frozen=True)
class QuoteExplanation:
    """The quote's price as a buyer reads it: listings, the rounding up, total, fee, payouts."""

    listings: list[QuoteListingLine]
    subtotal: Fraction
    rounding: Fraction  # total - subtotal: under one minor unit
    providers: list[QuoteShareLine]
    excluded: dict[str, int]  # reason -> count of samples left out


def quote_explanation(*, quote: Quote) -> QuoteExplanation:
    lines = quote.lines
    titles = listing_titles(refs=[x["listing_id"] for x in lines.get("listing_lines", [])])
    listings = [
        QuoteListingLine(
            title=titles[x["listing_id"]],
            samples=x["samples"],
            tokens=x["tokens"],
            floor_per_1k_tokens=x["floor_per_1k_tokens"],
            floor_amount=Fraction(x["floor_amount"]),
            premium=Fraction(x["premium"]),
        )
        for x in lines.get("listing_lines", [])
    ]
    subtotal = Fraction(lines.get("subtotal", quote.total))
    excluded: dict[str, int] = defaultdict(int)
    for item in lines.get("excluded", []):
        excluded[item["reason"]] += 1
    return QuoteExplanation(
        listings=listings,
        subtotal=subtotal,
        rounding=quote.total - subtotal,
        providers=quote_share_lines(quote=quote),
        excluded=dict(excluded),
    )


QUOTES_SCANNED_FOR_PROVIDER = 500  # recent quotes read to find a provider's lines


@dataclass(frozen=True)
class ProviderQuoteLine:
    """One quote's line for a provider; the buyer is not revealed."""

    quote_id: int
    created_at: dt.datetime
    status: str
    currency: str
    value_share: Fraction
    gross: int
    fee: int
    amount: int


def provider_quote_lines(*, provider: AbstractBaseUser) -> list[ProviderQuoteLine]:
    """The lines concerning ``provider`` in the most recent quotes, newest first.

    Quote lines live in the quote's JSON snapshot, so the recent quotes are read and their
    provider lines filtered here (JSON containment is not portable to SQLite).
    """
    recent = Quote.objects.order_by("-created_at", "-pk")[:QUOTES_SCANNED_FOR_PROVIDER]
    found = []
    for quote in recent:
        for line in quote.lines.get("providers", []):
            if line["provider_id"] == str(provider.pk):  # ids are strings in the snapshot
                found.append(
                    ProviderQuoteLine(
                        quote_id=quote.pk,
                        created_at=quote.created_at,
                        status=quote.get_status_display(),
                        currency=quote.currency,
                        value_share=Fraction(line["value_share"]),
                        gross=line.get("gross", line["amount"]),
                        fee=line.get("fee", 0),
                        amount=line["amount"],
                    )
                )
    return found
