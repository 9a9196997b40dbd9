"""Page forms. They only parse input; rules live in the services (errors are mapped back)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator

from core.forms import ServiceErrorFormMixin
from core.money import MoneyParseError, decimal_from_minor, minor_from_decimal, step
from core.validators import FLOOR_PRICE_MAX, ID_MAX
from marketplace import conf
from marketplace.ingest.parsers import FORMATS
from marketplace.licences import SPDX_LICENCES
from marketplace.models import Listing
from marketplace.selectors import SORTS

SORT_LABELS = {
    "newest": "Newest",
    "oldest": "Oldest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "size_asc": "Size: small to large",
    "size_desc": "Size: large to small",
    "relevance": "Relevance",
    "value": "Value for my latest valuation",
}
FORMAT_CHOICES = [("", "Detect from the file name")] + [(f, f) for f in FORMATS]


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ListingForm(ServiceErrorFormMixin, forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=_textarea(4))
    licence = forms.CharField(
        max_length=128,
        help_text="An SPDX id such as CC-BY-4.0 or MIT, ids joined with AND/OR, or "
        "LicenseRef-&lt;name&gt; for custom terms.",
        widget=forms.TextInput(attrs={"list": "spdx-licences", "autocomplete": "off"}),
    )
    tags = forms.CharField(
        required=False, help_text="Comma-separated, e.g. legal, contracts, english."
    )
    floor_price = forms.DecimalField(
        label="Floor price per 1,000 tokens",
        min_value=Decimal("0"),
        max_value=Decimal("1000000.00"),
        max_digits=12,
        decimal_places=2,
        help_text="In the currency's main unit (e.g. 0.05 = 5 cents; whole yen for JPY), at "
        "most 1,000,000; stored exactly in the currency's smallest unit.",
    )
    currency = forms.ChoiceField(choices=())
    source = forms.CharField(required=False, widget=_textarea(), help_text="Where it comes from.")
    collection_method = forms.CharField(
        required=False, widget=_textarea(), help_text="How it was collected and cleaned."
    )
    language = forms.CharField(required=False, max_length=16, help_text="e.g. en, de, pt-br.")
    intended_use = forms.CharField(required=False, widget=_textarea())
    known_limitations = forms.CharField(required=False, widget=_textarea())
    preview_mode = forms.ChoiceField(choices=Listing.PreviewMode.choices)
    preview_sample_ids = forms.CharField(
        required=False,
        label="Preview sample ids",
        help_text="When you pick the preview: sample ids separated by commas.",
    )
    preview_size = forms.IntegerField(min_value=1, max_value=20, initial=5)

    SERVICE_FIELDS = {"floor_price_per_1k_tokens": "floor_price"}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        currencies = conf.supported_currencies()
        self.fields["currency"].choices = [(c, c.upper()) for c in currencies]
        self.fields["currency"].initial = currencies[0]

    @staticmethod
    def initial_for(listing: Listing) -> dict[str, Any]:
        return {
            "title": listing.title,
            "description": listing.description,
            "licence": listing.licence,
            "tags": ", ".join(tag.name for tag in listing.tags.all()),
            "floor_price": decimal_from_minor(listing.floor_price_per_1k_tokens, listing.currency),
            "currency": listing.currency,
            "source": listing.source,
            "collection_method": listing.collection_method,
            "language": listing.language,
            "intended_use": listing.intended_use,
            "known_limitations": listing.known_limitations,
            "preview_mode": listing.preview_mode,
            "preview_sample_ids": ", ".join(listing.preview_sample_ids),
            "preview_size": listing.preview_size,
        }

    def clean(self) -> dict[str, Any]:
        """The floor price in minor units of the chosen currency (JPY has no decimals)."""
        data = super().clean()
        price, currency = data.get("floor_price"), data.get("currency")
        if price is not None and currency:
            try:
                data["floor_price_per_1k_tokens"] = minor_from_decimal(price, currency)
            except MoneyParseError as error:
                self.add_error("floor_price", str(error))
        return data

    def service_data(self) -> dict[str, Any]:
        """Cleaned values in the services' terms (price in integer minor units)."""
        data = dict(self.cleaned_data)
        del data["floor_price"]
        data["tags"] = [tag.strip() for tag in data["tags"].split(",") if tag.strip()]
        data["preview_sample_ids"] = data["preview_sample_ids"]
        return data

    @staticmethod
    def licence_suggestions() -> list[str]:
        return list(SPDX_LICENCES)


class UploadForm(ServiceErrorFormMixin, forms.Form):
    file = forms.FileField(
        help_text="JSON Lines (text, or prompt + response; optional id), CSV with the same "
        "columns, plain text (one sample per blank-line-separated block) or Parquet."
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)


class TakeDownForm(forms.Form):
    reason = forms.CharField(widget=_textarea(3), max_length=2000)


class TargetTaskForm(ServiceErrorFormMixin, forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=_textarea(3))


class TargetSetForm(UploadForm):
    """A file, or samples pasted in the box (JSON Lines, or one sample per line)."""

    text = forms.CharField(
        required=False,
        label="Or paste samples",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text='One sample per line, or JSON Lines such as {"text": "..."} or '
        '{"prompt": "...", "response": "..."}.',
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["file"].required = False
        for name in ("file", "text"):  # one of the two is needed
            self.fields[name].no_optional_mark = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        has_file, has_text = bool(data.get("file")), bool((data.get("text") or "").strip())
        if has_file and has_text:
            raise ValidationError("Upload a file or paste samples, not both.")
        if not has_file and not has_text and not self.errors:
            raise ValidationError("Choose a file to upload or paste samples in the box.")
        return data


class SearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    tag = forms.ChoiceField(required=False, choices=())
    licence = forms.ChoiceField(required=False, choices=())
    language = forms.ChoiceField(required=False, choices=())
    # In the currency's main unit, as prices are shown (0.05 = 5 cents); searched in cents.
    price_min = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        label="Min price",
    )
    price_max = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        label="Max price",
    )
    size_min = forms.IntegerField(required=False, min_value=0, max_value=ID_MAX, label="Min tokens")
    size_max = forms.IntegerField(required=False, min_value=0, max_value=ID_MAX, label="Max tokens")
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, SORT_LABELS[key]) for key in [*SORTS, "relevance"] if key != "value"],
    )

    def __init__(
        self, *args: Any, facets: dict[str, list[str]], with_value_sort: bool = False, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        if with_value_sort:  # only a buyer with a finished valuation can sort by value
            value_choice = ("value", SORT_LABELS["value"])
            self.fields["sort"].choices = [*self.fields["sort"].choices, value_choice]
        self.currency = str(settings.PLATFORM_CURRENCY).lower()
        currency = self.currency.upper()
        highest = decimal_from_minor(FLOOR_PRICE_MAX, self.currency)
        for name in ("price_min", "price_max"):  # as prices are shown: USD per 1k tokens
            self.fields[name].label = f"{self.fields[name].label} ({currency})"
            self.fields[name].validators.append(MaxValueValidator(highest))
            self.fields[name].widget.attrs.update(
                {"placeholder": step(self.currency), "step": step(self.currency), "max": highest}
            )
        self.fields["price_max"].help_text = f"Floor price in {currency} per 1,000 tokens."
        for field in self.fields.values():  # every filter is optional: no mark on each
            field.no_optional_mark = True
        self.fields["tag"].choices = [("", "Any tag")] + [(t, t) for t in facets["tags"]]
        self.fields["licence"].choices = [("", "Any licence")] + [
            (lic, lic) for lic in facets["licences"]
        ]
        self.fields["language"].choices = [("", "Any language")] + [
            (lang, lang) for lang in facets["languages"]
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for low, high in (("price_min", "price_max"), ("size_min", "size_max")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(low, "Above the maximum.")
        for name in ("price_min", "price_max"):  # searched in minor units of the currency
            if data.get(name) is not None:
                try:
                    data[f"{name}_minor"] = minor_from_decimal(data[name], self.currency)
                except MoneyParseError as error:
                    self.add_error(name, str(error))
        return data

    def search_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "tags": [data["tag"]] if data.get("tag") else [],
            "licence": data.get("licence") or None,
            "language": data.get("language") or None,
            "price_min": data.get("price_min_minor"),
            "price_max": data.get("price_max_minor"),
            "size_min": data.get("size_min"),
            "size_max": data.get("size_max"),
            "sort": data.get("sort") or "newest",
        }
