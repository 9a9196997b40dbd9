"""Staff moderation in the Django admin. Writes go through the services (take-down action)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.errors import ServiceError
from marketplace.forms import TakeDownForm
from marketplace.models import AccessGrant, DatasetVersion, Listing, Sample, Tag, TargetTask
from marketplace.services.listings import listing_take_down


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records change only through the product's services; the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.action(description="Take down selected listings…")
def take_down(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Listing]):
    """Ask for a reason, then take each selected listing down through the service."""
    form = TakeDownForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        done = 0
        for listing in queryset:
            try:
                listing_take_down(
                    listing=listing, actor=request.user, reason=form.cleaned_data["reason"]
                )
                done += 1
            except ServiceError as error:
                modeladmin.message_user(
                    request,
                    f"{listing}: {' '.join(error.messages)}",
                    messages.WARNING,
                )
        modeladmin.message_user(request, f"{done} listing(s) taken down.", messages.SUCCESS)
        return None
    return TemplateResponse(
        request,
        "admin/marketplace/take_down.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Take down listings",
            "listings": queryset,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ("number", "status", "format", "original_filename", "sample_count", "token_count")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Listing)
class ListingAdmin(ReadOnlyAdmin):
    list_display = (
        "title",
        "provider",
        "status",
        "licence",
        "floor_price_per_1k_tokens",
        "currency",
        "listed_at",
        "taken_down_at",
    )
    list_filter = ("status", "licence", "currency")
    search_fields = ("title", "slug", "description", "provider__username")
    actions = [take_down]
    inlines = [VersionInline]

    readonly_fields = ("tags",)


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "listing",
        "number",
        "status",
        "format",
        "sample_count",
        "token_count",
        "language",
        "created_at",
    )
    list_filter = ("status", "format")
    search_fields = ("listing__title", "original_filename", "file_sha256", "content_hash")


@admin.register(Sample)
class SampleAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "version", "position", "token_count", "duplicate_kind")
    list_filter = ("duplicate_kind",)
    search_fields = ("external_id", "norm_hash")
    raw_id_fields = ("version", "duplicate_of")
    exclude = ("minhash", "embedding")


@admin.register(TargetTask)
class TargetTaskAdmin(ReadOnlyAdmin):
    list_display = ("name", "buyer", "status", "sample_count", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "buyer__username")


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    search_fields = ("name",)


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyAdmin):
    """Who may read which sample in full, and why (``order:<id>``); a full refund revokes."""

    list_display = ("user", "sample_ref", "listing_ref", "source", "granted_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username", "source")
    list_select_related = ("user",)
