"""Writes on listings: create, edit, publish, unpublish, staff take-down, delete a draft."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.selectors import user_has_role
from core.errors import Conflict, Invalid, NotAllowed
from core.validators import FLOOR_PRICE_MAX
from marketplace import conf
from marketplace.licences import licence_normalise
from marketplace.models import DatasetVersion, Listing, Sample, Tag

MAX_TAGS = 12
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

# Fields a provider may edit with ``listing_update`` (datasheet, price, preview).
EDITABLE_FIELDS = (
    "title",
    "description",
    "source",
    "collection_method",
    "language",
    "intended_use",
    "known_limitations",
    "licence",
    "tags",
    "floor_price_per_1k_tokens",
    "currency",
    "preview_mode",
    "preview_sample_ids",
    "preview_size",
)


def _require_owner(*, listing: Listing, actor: AbstractBaseUser) -> None:
    if listing.provider_id != actor.pk:
        raise NotAllowed("Only the listing's provider may change it.")


def _unique_slug(title: str) -> str:
    """The title's slug with a random suffix ("legal-qa-pairs-3f9c1a").

    Always suffixed, so the slug a provider gets never depends on other providers' drafts:
    "-2" after a taken slug told anyone that a private listing with that title exists.
    """
    base = slugify(title)[:200].strip("-") or "dataset"
    while True:
        slug = f"{base}-{secrets.token_hex(3)}"
        if not Listing.objects.filter(slug=slug).exists():
            return slug


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise Invalid(f"Tags must be strings, got {tag!r}.", field="tags")
        slug = slugify(tag)[:40].strip("-")
        if tag.strip() and not slug:
            raise Invalid(f"Tag {tag!r} has no letters or digits.", field="tags")
        if slug and slug not in cleaned:
            cleaned.append(slug)
    if len(cleaned) > MAX_TAGS:
        raise Invalid(f"At most {MAX_TAGS} tags; got {len(cleaned)}.", field="tags")
    return cleaned


def _clean_fields(data: dict[str, Any], *, listing: Listing | None) -> dict[str, Any]:
    """Validate and normalise provider-editable fields; raise one Invalid for all."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in data.items():
        if name not in EDITABLE_FIELDS:
            fail(name, f"{name!r} cannot be set here.")
            continue
        try:
            if name == "title":
                value = (value or "").strip()
                if not value:
                    fail(name, "A title is required.")
                elif len(value) > 200:
                    fail(name, "At most 200 characters.")
            elif name == "licence":
                value = licence_normalise(value)
            elif name == "tags":
                value = _clean_tags(value or [])
            elif name == "language":
                value = (value or "").strip().lower()
                if value and not _LANGUAGE.match(value):
                    fail(name, f"{value!r} is not a language code such as 'en' or 'pt-br'.")
            elif name == "currency":
                value = (value or "").strip().lower()
                if value not in conf.supported_currencies():
                    supported = ", ".join(conf.supported_currencies())
                    fail(name, f"Unsupported currency {value!r}; use one of {supported}.")
            elif name == "floor_price_per_1k_tokens":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not 0 <= value <= FLOOR_PRICE_MAX
                ):
                    fail(
                        name,
                        "Give the price per 1,000 tokens as a whole number of minor units "
                        f"(cents), from 0 to {FLOOR_PRICE_MAX:,} (1,000,000.00).",
                    )
            elif name == "preview_mode":
                if value not in Listing.PreviewMode.values:
                    fail(name, f"Use one of {', '.join(Listing.PreviewMode.values)}.")
            elif name == "preview_size":
                maximum = conf.preview_max_size()
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not (1 <= value <= maximum)
                ):
                    fail(name, f"Between 1 and {maximum}.")
            elif name == "preview_sample_ids":
                if isinstance(value, str):
                    value = [item.strip() for item in value.replace("\n", ",").split(",")]
                if not isinstance(value, list | tuple) or not all(
                    isinstance(item, str) for item in value
                ):
                    fail(name, "Give a list of sample ids.")
                else:
                    value = [item for item in dict.fromkeys(value) if item]
                    if len(value) > conf.preview_max_size():
                        fail(name, f"At most {conf.preview_max_size()} preview samples.")
            elif isinstance(value, str) or value is None:
                value = (value or "").strip()
            else:
                fail(name, "Must be text.")
        except Invalid as exc:
            for message in exc.field_messages.get(name, exc.messages):
                fail(name, message)
            continue
        cleaned[name] = value

    mode = cleaned.get("preview_mode", listing.preview_mode if listing else None)
    picked = cleaned.get("preview_sample_ids", listing.preview_sample_ids if listing else [])
    if mode == Listing.PreviewMode.PICKED and "preview_sample_ids" not in errors:
        if not picked:
            fail("preview_sample_ids", "Pick at least one sample id for the preview.")
        elif listing is not None and listing.current_version_id:
            known = set(
                Sample.objects.filter(
                    version_id=listing.current_version_id, external_id__in=picked
                ).values_list("external_id", flat=True)
            )
            unknown = [item for item in picked if item not in known]
            if unknown:
                fail(
                    "preview_sample_ids",
                    f"Not in the current version: {', '.join(unknown[:10])}.",
                )
    if errors:
        raise Invalid.for_fields(errors)
    return cleaned


def _full_clean(listing: Listing) -> None:
    try:
        listing.full_clean()
    except ValidationError as exc:
        raise Invalid.from_validation_error(exc) from exc


def _set_tags(listing: Listing, tags: list[str]) -> None:
    objects = [Tag.objects.get_or_create(name=name)[0] for name in tags]
    listing.tags.set(objects)


@transaction.atomic
def listing_create(
    *,
    provider: AbstractBaseUser,
    title: str,
    licence: str,
    floor_price_per_1k_tokens: int,
    currency: str | None = None,
    description: str = "",
    source: str = "",
    collection_method: str = "",
    language: str = "",
    intended_use: str = "",
    known_limitations: str = "",
    tags: Iterable[str] = (),
    preview_mode: str = Listing.PreviewMode.RANDOM,
    preview_sample_ids: Iterable[str] = (),
    preview_size: int = 5,
    slug: str | None = None,
) -> Listing:
    """Create a draft listing. Only users with the provider role may list data.

    The slug is made from the title plus a random suffix unless ``slug`` is given (management
    commands), which must then be free.
    """
    if not user_has_role(provider, "provider"):
        raise NotAllowed("Only data providers can create listings.")
    if slug is not None:
        if slugify(slug) != slug or not slug:
            raise Invalid(f"{slug!r} is not a slug (lowercase, digits, -).", field="slug")
        if Listing.objects.filter(slug=slug).exists():
            raise Invalid(f"The slug {slug!r} is taken.", field="slug")
    fields = _clean_fields(
        {
            "title": title,
            "licence": licence,
            "floor_price_per_1k_tokens": floor_price_per_1k_tokens,
            "currency": currency or conf.supported_currencies()[0],
            "description": description,
            "source": source,
            "collection_method": collection_method,
            "language": language,
            "intended_use": intended_use,
            "known_limitations": known_limitations,
            "tags": list(tags) if not isinstance(tags, str) else tags,
            "preview_mode": preview_mode,
            "preview_sample_ids": list(preview_sample_ids)
            if not isinstance(preview_sample_ids, str)
            else preview_sample_ids,
            "preview_size": preview_size,
        },
        listing=None,
    )
    tag_names = fields.pop("tags")
    listing = Listing(provider=provider, slug=slug or _unique_slug(fields["title"]), **fields)
    _full_clean(listing)
    listing.save()
    _set_tags(listing, tag_names)
    return listing


@transaction.atomic
def listing_update(*, listing: Listing, actor: AbstractBaseUser, data: dict[str, Any]) -> Listing:
    """Change datasheet/price/preview fields. The slug never changes (stable links)."""
    _require_owner(listing=listing, actor=actor)
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.status == Listing.Status.TAKEN_DOWN:
        raise Conflict(
            "This listing was taken down by staff and cannot be edited.", code="taken_down"
        )
    fields = _clean_fields(dict(data), listing=listing)
    tag_names = fields.pop("tags", None)
    for name, value in fields.items():
        setattr(listing, name, value)
    _full_clean(listing)
    listing.save()
    if tag_names is not None:
        _set_tags(listing, tag_names)
    return listing


@transaction.atomic
def listing_publish(*, listing: Listing, actor: AbstractBaseUser) -> Listing:
    """Put a listing on the market. Needs a ready version; re-checks duplicates."""
    from marketplace.services.duplicates import duplicates_recheck_listing

    _require_owner(listing=listing, actor=actor)
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.status == Listing.Status.TAKEN_DOWN:
        raise Conflict(
            f"This listing was taken down by staff ({listing.takedown_reason}) and cannot be "
            "published again.",
            code="taken_down",
        )
    if listing.status == Listing.Status.PUBLISHED:
        raise Conflict("This listing is already published.", code="already_published")
    if not listing.versions.filter(status=DatasetVersion.Status.READY).exists():
        raise Conflict(
            "Upload a dataset version and wait until it is ready to publish.",
            code="no_ready_version",
        )
    now = timezone.now()
    listing.status = Listing.Status.PUBLISHED
    listing.published_at = now
    if listing.listed_at is None:
        listing.listed_at = now
    listing.save(update_fields=["status", "published_at", "listed_at", "updated_at"])
    duplicates_recheck_listing(listing=listing)
    return listing


@transaction.atomic
def listing_unpublish(*, listing: Listing, actor: AbstractBaseUser) -> Listing:
    _require_owner(listing=listing, actor=actor)
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.status != Listing.Status.PUBLISHED:
        raise Conflict(
            f"Only a published listing can be unpublished (it is {listing.status}).",
            code="not_published",
        )
    listing.status = Listing.Status.UNPUBLISHED
    listing.save(update_fields=["status", "updated_at"])
    return listing


@transaction.atomic
def listing_take_down(*, listing: Listing, actor: AbstractBaseUser, reason: str) -> Listing:
    """Staff moderation: remove a listing from the market for good.

    It disappears from search and cannot be republished. Past buyers keep their
    entitlements (``selectors.listing_get_for_viewer`` asks the payments seam).
    """
    if not user_has_role(actor, "staff"):
        raise NotAllowed("Only staff can take listings down.")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say why the listing is taken down.", field="reason")
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.status == Listing.Status.TAKEN_DOWN:
        raise Conflict("This listing is already taken down.", code="already_taken_down")
    listing.status = Listing.Status.TAKEN_DOWN
    listing.takedown_reason = reason
    listing.taken_down_at = timezone.now()
    listing.taken_down_by = actor
    listing.save(
        update_fields=["status", "takedown_reason", "taken_down_at", "taken_down_by", "updated_at"]
    )
    return listing


@transaction.atomic
def listing_delete(*, listing: Listing, actor: AbstractBaseUser) -> None:
    """Delete a listing that was never published (its versions and files go with it)."""
    from marketplace.services.versions import version_files_delete

    _require_owner(listing=listing, actor=actor)
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.listed_at is not None:
        raise Conflict(
            "A listing that has been published cannot be deleted; unpublish it instead.",
            code="has_been_published",
        )
    if (
        listing.versions.filter(status__in=DatasetVersion.IN_PROGRESS)
        .exclude(status=DatasetVersion.Status.VALIDATED)
        .exists()
    ):
        raise Conflict(
            "A version is still being processed; wait for it to finish.",
            code="version_in_progress",
        )
    versions = list(listing.versions.all())
    listing.current_version = None
    listing.save(update_fields=["current_version"])
    for version in versions:
        Sample.objects.filter(version=version).update(duplicate_of=None, duplicate_kind="")
    listing.delete()
    transaction.on_commit(lambda: version_files_delete(versions=versions))
