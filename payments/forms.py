"""The buyer's subset form (payments.subset picks, payments.services.quotes quotes)."""

from __future__ import annotations

from django import forms

from valuation.budget import money_to_minor_units
from valuation.errors import ValuationRequestInvalid


class SubsetForm(forms.Form):
    """Choose a subset of a finished job: top-k, a value threshold, or a budget in dollars."""

    mode = forms.ChoiceField(
        choices=[
            ("top_k", "Top k by value"),
            ("threshold", "Every sample at or above a value"),
            ("budget", "Best value under a budget"),
        ],
        initial="top_k",
        widget=forms.RadioSelect,
        label="Rule",
    )
    k = forms.IntegerField(min_value=1, max_value=10_000_000, required=False, label="k")
    threshold = forms.FloatField(
        required=False, min_value=-1e12, max_value=1e12, label="Value threshold"
    )
    budget = forms.CharField(
        required=False,
        max_length=20,
        label="Budget",
        help_text="In the listings' currency, e.g. 12.50 (at most 2 decimals).",
    )
    include_non_positive = forms.BooleanField(
        required=False,
        initial=False,
        label="Include negative-value samples",
        help_text="Off by default: samples with value 0 or below cannot help your task.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("k", "threshold", "budget"):  # needed by their rule, not "(optional)"
            self.fields[name].no_optional_mark = True

    def clean(self) -> dict:
        data = super().clean()
        mode = data.get("mode")
        if mode == "top_k" and data.get("k") is None:
            self.add_error("k", "Enter how many samples to take.")
        if mode == "threshold" and data.get("threshold") is None:
            self.add_error("threshold", "Enter a value threshold.")
        data["budget_minor"] = None
        if mode == "budget":
            try:
                data["budget_minor"] = money_to_minor_units(text=data.get("budget") or "")
            except ValuationRequestInvalid as error:
                self.add_error("budget", str(error))
        return data

    def selection_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "mode": data["mode"],
            "k": data.get("k"),
            "threshold": data.get("threshold"),
            "budget": data.get("budget_minor"),
            "include_non_positive": data["include_non_positive"],
        }
