"""The buyer's valuation request form: which listings, which model, which method."""

from __future__ import annotations

from django import forms

from valuation import conf
from valuation.budget import money_to_minor_units
from valuation.errors import ValuationRequestInvalid
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
        text = self.cleaned_data.get("budget", "").strip()
        if not text:
            return None
        try:
            return money_to_minor_units(text=text)
        except ValuationRequestInvalid as error:
            raise forms.ValidationError(str(error)) from error
