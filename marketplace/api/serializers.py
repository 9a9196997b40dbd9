"""Input and output serializers of the marketplace API (names are unique project-wide)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.validators import FLOOR_PRICE_MAX, ID_MAX
from marketplace.ingest.parsers import FORMATS
from marketplace.models import DatasetVersion, Listing, Sample, TargetSample, TargetTask
from marketplace.selectors import sort_choices, version_duplicate_summary

# --- inputs ---------------------------------------------------------------------------------


class ListingSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tag = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    licence = serializers.CharField(required=False, allow_blank=True, max_length=128)
    language = serializers.CharField(required=False, allow_blank=True, max_length=16)
    currency = serializers.CharField(required=False, allow_blank=True, max_length=3)
    price_min = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
    price_max = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
    size_min = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
    size_max = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
    sort = serializers.ChoiceField(choices=sort_choices(), required=False, default="newest")
    mine = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if hasattr(data, "getlist"):
            plain = {key: data.get(key) for key in data}
            if "tag" in data:
                plain["tag"] = [t for raw in data.getlist("tag") for t in raw.split(",") if t]
            data = plain
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for low, high in (("price_min", "price_max"), ("size_min", "size_max")):
            if low in attrs and high in attrs and attrs[low] > attrs[high]:
                raise serializers.ValidationError({low: f"{low} is above {high}."})
        return attrs


class ListingInputSerializer(serializers.Serializer):
    """Provider-editable listing fields; services validate values (licence, currency...)."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    source = serializers.CharField(required=False, allow_blank=True)
    collection_method = serializers.CharField(required=False, allow_blank=True)
    language = serializers.CharField(required=False, allow_blank=True, max_length=16)
    intended_use = serializers.CharField(required=False, allow_blank=True)
    known_limitations = serializers.CharField(required=False, allow_blank=True)
    licence = serializers.CharField(max_length=128)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=50
    )
    floor_price_per_1k_tokens = serializers.IntegerField(
        min_value=0,
        max_value=FLOOR_PRICE_MAX,
        help_text="Minor units (cents) per 1,000 tokens, at most 100,000,000 (1,000,000.00).",
    )
    currency = serializers.CharField(required=False, max_length=3)
    preview_mode = serializers.ChoiceField(choices=Listing.PreviewMode.choices, required=False)
    preview_sample_ids = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False
    )
    preview_size = serializers.IntegerField(required=False, min_value=1, max_value=20)


class TakeDownInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class VersionUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    format = serializers.CharField(
        required=False,
        help_text="One of: " + ", ".join(FORMATS) + " (default: from the file name).",
    )


class TargetTaskInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


# --- outputs --------------------------------------------------------------------------------


class MarketProviderSerializer(serializers.Serializer):
    username = serializers.CharField(source="get_username")
    display_name = serializers.SerializerMethodField()

    def get_display_name(self, user) -> str:
        profile = getattr(user, "profile", None)
        return (profile.display_name if profile else "") or user.get_username()


def _choices_field(choices) -> serializers.CharField:
    """A plain string with its values documented (avoids colliding OpenAPI enum names)."""
    return serializers.CharField(
        read_only=True, help_text="One of: " + ", ".join(value for value, _label in choices)
    )


class VersionSummarySerializer(serializers.ModelSerializer):
    status = _choices_field(DatasetVersion.Status.choices)
    format = _choices_field(DatasetVersion.Format.choices)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "number",
            "status",
            "format",
            "sample_count",
            "token_count",
            "language",
            "content_hash",
            "ready_at",
        ]


class DatasheetSerializer(serializers.Serializer):
    source = serializers.CharField()
    collection_method = serializers.CharField()
    language = serializers.CharField()
    intended_use = serializers.CharField()
    known_limitations = serializers.CharField()


class ListingSerializer(serializers.ModelSerializer):
    status = _choices_field(Listing.Status.choices)
    provider = MarketProviderSerializer()
    tags = serializers.SerializerMethodField()
    datasheet = serializers.SerializerMethodField()
    current_version = VersionSummarySerializer(allow_null=True)

    class Meta:
        model = Listing
        fields = [
            "slug",
            "title",
            "description",
            "provider",
            "status",
            "licence",
            "tags",
            "language",
            "floor_price_per_1k_tokens",
            "currency",
            "datasheet",
            "current_version",
            "listed_at",
            "published_at",
            "created_at",
            "updated_at",
        ]

    def get_tags(self, listing: Listing) -> list[str]:
        return [tag.name for tag in listing.tags.all()]

    def get_datasheet(self, listing: Listing) -> dict[str, str]:
        return DatasheetSerializer(listing).data


class ListingOwnerSerializer(ListingSerializer):
    """What the provider and staff see in addition: moderation and preview settings."""

    class Meta(ListingSerializer.Meta):
        fields = ListingSerializer.Meta.fields + [
            "takedown_reason",
            "taken_down_at",
            "preview_mode",
            "preview_sample_ids",
            "preview_size",
        ]


class SamplePreviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sample
        fields = ["external_id", "text", "prompt", "response", "token_count"]


class ProgressSerializer(serializers.Serializer):
    phase = serializers.CharField(source="progress_phase")
    done = serializers.IntegerField(source="progress_done")
    total = serializers.IntegerField(source="progress_total")
    unit = serializers.CharField(source="progress_unit")
    percent = serializers.IntegerField(source="progress_percent")


class VersionSerializer(serializers.ModelSerializer):
    """A version as its provider (and staff) see it, with the validation report."""

    listing = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = _choices_field(DatasetVersion.Status.choices)
    format = _choices_field(DatasetVersion.Format.choices)
    progress = serializers.SerializerMethodField()
    duplicates = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "listing",
            "number",
            "status",
            "format",
            "original_filename",
            "file_size",
            "file_sha256",
            "content_hash",
            "sample_count",
            "token_count",
            "language",
            "valid_rows_only",
            "progress",
            "error",
            "validation_report",
            "duplicates",
            "created_at",
            "validated_at",
            "ready_at",
        ]

    def get_progress(self, version: DatasetVersion) -> dict[str, Any]:
        return ProgressSerializer(version).data

    def get_duplicates(self, version: DatasetVersion) -> dict[str, int] | None:
        if version.status != DatasetVersion.Status.READY:
            return None
        return version_duplicate_summary(version=version)


class DuplicateSampleSerializer(serializers.ModelSerializer):
    original = serializers.SerializerMethodField()

    class Meta:
        model = Sample
        fields = ["external_id", "position", "source_line", "duplicate_kind", "original"]

    def get_original(self, sample: Sample) -> dict[str, Any]:
        original = sample.duplicate_of
        listing = original.version.listing
        same = listing.pk == sample.version.listing_id
        public = listing.status == Listing.Status.PUBLISHED
        return {
            "external_id": original.external_id,
            "same_listing": same,
            "listing": {
                "slug": listing.slug if (public or same) else None,
                "title": listing.title if (public or same) else "a dataset no longer listed",
                "provider": listing.provider.get_username() if (public or same) else None,
            },
        }


class TargetTaskSerializer(serializers.ModelSerializer):
    buyer = serializers.CharField(source="buyer.get_username", read_only=True)
    status = _choices_field(TargetTask.Status.choices)
    format = _choices_field(DatasetVersion.Format.choices)

    class Meta:
        model = TargetTask
        fields = [
            "id",
            "buyer",
            "name",
            "description",
            "status",
            "target_set_hash",
            "original_filename",
            "format",
            "sample_count",
            "token_count",
            "language",
            "target_set_uploaded_at",
            "created_at",
            "updated_at",
        ]


class TargetSampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = TargetSample
        fields = [
            "external_id",
            "position",
            "source_line",
            "text",
            "prompt",
            "response",
            "token_count",
        ]
