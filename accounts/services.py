"""Writes on accounts: creating users with their roles, changing roles."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import Profile


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    password: str | None,
    is_provider: bool = False,
    is_buyer: bool = False,
    display_name: str = "",
    organisation: str = "",
    is_staff: bool = False,
) -> AbstractBaseUser:
    """Create a user and its profile together; a user never exists without a profile."""
    user_model = get_user_model()
    user = user_model(username=username, email=email, is_staff=is_staff, is_superuser=is_staff)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    Profile.objects.create(
        user=user,
        is_provider=is_provider,
        is_buyer=is_buyer,
        display_name=display_name,
        organisation=organisation,
    )
    return user


def profile_set_roles(*, profile: Profile, is_provider: bool, is_buyer: bool) -> Profile:
    profile.is_provider = is_provider
    profile.is_buyer = is_buyer
    profile.save(update_fields=["is_provider", "is_buyer"])
    return profile


@transaction.atomic
def profile_update(
    *,
    user: AbstractBaseUser,
    display_name: str,
    organisation: str,
    is_provider: bool,
    is_buyer: bool,
) -> Profile:
    """Save a user's editable profile fields, creating the profile if the user has none.

    Users made outside ``user_create`` (``createsuperuser``) start without a profile.
    """
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    profile.display_name = display_name
    profile.organisation = organisation
    profile.is_provider = is_provider
    profile.is_buyer = is_buyer
    profile.save(update_fields=["display_name", "organisation", "is_provider", "is_buyer"])
    return profile


def auth_token_get_or_create(*, user: AbstractBaseUser) -> Token:
    """The user's API token; one per user, created on first request."""
    token, _ = Token.objects.get_or_create(user=user)
    return token
