"""Staff manage users and their marketplace roles in the Django admin."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Profile

User = get_user_model()


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    extra = 1
    max_num = 1
    fields = ("display_name", "organisation", "is_provider", "is_buyer", "created_at")
    readonly_fields = ("created_at",)


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [ProfileInline]
    list_display = (
        "username",
        "email",
        "display_name",
        "is_provider",
        "is_buyer",
        "is_staff",
        "date_joined",
    )
    list_filter = ("profile__is_provider", "profile__is_buyer", "is_staff", "is_active")
    list_select_related = ("profile",)
    search_fields = ("username", "email", "profile__display_name", "profile__organisation")

    @admin.display(description="Display name", ordering="profile__display_name")
    def display_name(self, obj) -> str:
        profile = getattr(obj, "profile", None)
        return profile.display_name if profile else ""

    @admin.display(description="Provider", boolean=True, ordering="profile__is_provider")
    def is_provider(self, obj) -> bool:
        profile = getattr(obj, "profile", None)
        return bool(profile and profile.is_provider)

    @admin.display(description="Buyer", boolean=True, ordering="profile__is_buyer")
    def is_buyer(self, obj) -> bool:
        profile = getattr(obj, "profile", None)
        return bool(profile and profile.is_buyer)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "organisation", "is_provider", "is_buyer", "created_at")
    list_filter = ("is_provider", "is_buyer")
    search_fields = ("user__username", "user__email", "display_name", "organisation")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)
