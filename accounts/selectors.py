"""Reads on accounts, including the role checks every page and endpoint relies on."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.models import Profile


def profile_for(user: AbstractBaseUser | AnonymousUser) -> Profile | None:
    if not user.is_authenticated:
        return None
    return Profile.objects.filter(user=user).first()


def display_name_of(user: AbstractBaseUser) -> str:
    """How the product addresses a person: their profile's display name, else username."""
    profile = Profile.objects.filter(user=user).only("display_name").first()
    return (profile.display_name if profile else "").strip() or user.get_username()


def user_has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """True when an authenticated user holds ``role`` ("provider", "buyer" or "staff")."""
    if not user.is_authenticated:
        return False
    if role == "staff":
        return bool(user.is_staff)
    profile = profile_for(user)
    return profile is not None and role in profile.roles


def user_roles(
    user: AbstractBaseUser | AnonymousUser, *, profile: Profile | None = None
) -> list[str]:
    """Every role the user holds, in display order: provider, buyer, staff.

    Pass ``profile`` when already loaded to save the query.
    """
    if not user.is_authenticated:
        return []
    if profile is None:
        profile = profile_for(user)
    roles = list(profile.roles) if profile is not None else []
    if user.is_staff:
        roles.append("staff")
    return roles


def username_taken(*, username: str) -> bool:
    return get_user_model().objects.filter(username__iexact=username).exists()


def email_taken(*, email: str, exclude_user_id: int | None = None) -> bool:
    users = get_user_model().objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.exists()
