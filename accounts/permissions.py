"""Role checks for pages and for the REST API.

Roles are "provider" and "buyer" (held on ``accounts.Profile``) and "staff" (``User.is_staff``).
One person may hold several. The checks only read; a denied request changes nothing.

Pages::

    @role_required("provider")
    def my_datasets(request): ...

    @role_required("provider", "buyer")       # either role is enough
    def shared_page(request): ...

    class PurchaseListView(RoleRequiredMixin, ListView):
        required_roles = ("buyer",)

An anonymous visitor is redirected to the login page (``?next=`` back here); a signed-in user
without the role gets ``RoleRequired`` (a ``PermissionDenied``), which renders ``403.html``.

API (DRF)::

    class DatasetViewSet(ModelViewSet):
        permission_classes = [IsProvider]

Anonymous API calls get 401, signed-in ones without the role 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from accounts.selectors import user_has_role

ROLES: tuple[str, ...] = ("provider", "buyer", "staff")
ROLE_LABELS: dict[str, str] = {
    "provider": "data providers",
    "buyer": "data buyers",
    "staff": "staff",
}


def _validated(roles: Iterable[str]) -> tuple[str, ...]:
    roles = tuple(roles)
    if not roles:
        raise ValueError("role_required needs at least one role")
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"Unknown role(s) {unknown!r}; expected some of {ROLES!r}")
    return roles


def user_has_any_role(user: Any, roles: Iterable[str]) -> bool:
    return any(user_has_role(user, role) for role in roles)


def roles_sentence(roles: Iterable[str]) -> str:
    """("provider", "buyer") -> "data providers or data buyers"."""
    return " or ".join(ROLE_LABELS[role] for role in roles)


class RoleRequired(PermissionDenied):
    """Raised for a signed-in user lacking every one of ``roles``; rendered by ``403.html``."""

    def __init__(self, roles: Iterable[str]):
        self.roles = tuple(roles)
        super().__init__(f"This page is only for {roles_sentence(self.roles)}.")


def check_roles(request: HttpRequest, roles: Iterable[str]) -> HttpResponse | None:
    """Return a login redirect for anonymous users, raise ``RoleRequired`` for the wrong role.

    Returns ``None`` when the request may go on.
    """
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not user_has_any_role(user, roles):
        raise RoleRequired(roles)
    return None


ViewFunc = Callable[..., HttpResponse]


def role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """Decorate a function view so only users holding one of ``roles`` reach it."""
    required = _validated(roles)

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            denied = check_roles(request, required)
            if denied is not None:
                return denied
            return view(request, *args, **kwargs)

        wrapped.required_roles = required  # type: ignore[attr-defined]
        return wrapped

    return decorator


class RoleRequiredMixin:
    """Class-based view counterpart of ``role_required``; set ``required_roles``."""

    required_roles: tuple[str, ...] = ()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denied = check_roles(request, _validated(self.required_roles))
        if denied is not None:
            return denied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


# --- DRF ------------------------------------------------------------------------------------


class HasRole(BasePermission):
    """Base class: allows authenticated users holding ``role``. Subclass and set ``role``."""

    role: str = ""
    code = "missing_role"

    @property
    def message(self) -> str:  # type: ignore[override]
        return f"This action needs the {self.role} role."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated) and user_has_role(
            request.user, self.role
        )


class IsProvider(HasRole):
    role = "provider"


class IsBuyer(HasRole):
    role = "buyer"


class IsStaff(HasRole):
    role = "staff"
