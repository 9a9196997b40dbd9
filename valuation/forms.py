"""The buyer's valuation request form: which listings, which model, which method."""

from __future__ import annotations

from django import forms

from valuation import conf
from valuation.models import ValuationJob
from valuation.selectors import poolable_listings


class ListingChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        version = obj.current_version
        noun = "sample" if version.sample_count == 1 else "samples"
        return f"{obj.title} (v{version.number}, {version.sample_count:,} {noun})"


class ValuationRequestForm(forms.Form):
    listings = ListingChoiceField(
        queryset=poolable_listings(),
        widget=forms.CheckboxSelectMultiple,
        label="Candidate pool",
        help_text="The current version of each listing you tick is valued.",
    )
    model_spec = forms.ChoiceField(label="Model", initial=conf.DEFAULT_MODEL)
    method = forms.ChoiceField(
        choices=ValuationJob.Method.choices,
        initial=ValuationJob.Method.ALINFIK,
        widget=forms.RadioSelect,
        label="Method",
    )
    label_fraction = forms.FloatField(
        min_value=0.0001,
        max_value=1.0,
        initial=0.1,
        label="Label fraction",
        help_text="ALinFiK: the share of each dataset labelled with exact LinFiK to train the "
        "proxy (the rest is predicted). Ignored for exact LinFiK.",
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0, label="Seed")
    budget = forms.CharField(
        required=False,
        max_length=20,
        label="Budget",
        help_text="What you plan to spend, e.g. 250 or 99.50 (listing currency). The subset page "
        "then starts from the best value under it.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["listings"].queryset = poolable_listings()
        self.fields["model_spec"].choices = list(conf.model_choices().items())

    def clean_budget(self) -> int | None:
        from valuation.errors import ValuationRequestInvalid
        from valuation.subset import money_to_minor_units

        text = self.cleaned_data.get("budget", "").strip()
        if not text:
            return None
        try:
            return money_to_minor_units(text=text)
        except ValuationRequestInvalid as error:
            raise forms.ValidationError(str(error)) from error


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
        from valuation.errors import ValuationRequestInvalid
        from valuation.subset import money_to_minor_units

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
