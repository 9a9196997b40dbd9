"""Template context shared by every page: the role-aware navigation.

Navigation items name URL patterns that other apps register over time. An item whose URL
names are not registered yet is skipped, so templates never crash on a missing page. To make
a slot appear, register one of its ``url_names`` (the first that resolves wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from accounts.selectors import profile_for, user_roles


@dataclass(frozen=True)
class NavSlot:
    label: str
    role: str
    url_names: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class NavItem:
    label: str
    role: str
    url: str
    description: str
    active: bool


# Slots of this role are shown to everybody, signed in or not (the dataset catalogue).
EVERYONE = "everyone"

# The canonical URL name of each slot comes first; later names are accepted aliases.
NAV_SLOTS: tuple[NavSlot, ...] = (
    NavSlot(
        "Browse data",
        EVERYONE,
        ("marketplace:listing_list", "marketplace:browse"),
        "Search listed datasets by domain, language, licence, price and size.",
    ),
    NavSlot(
        "My datasets",
        "provider",
        ("marketplace:provider_datasets", "marketplace:dataset_list"),
        "Upload text datasets, publish listings and watch their valuation.",
    ),
    NavSlot(
        "Sales & payouts",
        "provider",
        ("payments:payouts", "marketplace:sales"),
        "Revenue per dataset and the payouts owed for value delivered.",
    ),
    NavSlot(
        "Target tasks",
        "buyer",
        ("marketplace:task_list",),
        "Bring a small target set; we score every candidate sample against it.",
    ),
    NavSlot(
        "Valuations",
        "buyer",
        ("valuation:job_list",),
        "Follow your valuations, read their results and choose a subset to buy.",
    ),
    NavSlot(
        "Purchases",
        "buyer",
        ("payments:order_list", "marketplace:purchase_list"),
        "Subsets you bought, their receipts and downloads.",
    ),
    NavSlot("Admin", "staff", ("admin:index",), "Users, roles and platform records."),
)

ROLE_TITLES = {"provider": "Provider", "buyer": "Buyer", "staff": "Staff"}


def _resolve(url_names: tuple[str, ...]) -> str | None:
    for name in url_names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _is_active(path: str, url: str) -> bool:
    return url != "/" and (path == url or path.startswith(url.rstrip("/") + "/"))


def nav_items_for(*, roles: list[str], path: str) -> list[NavItem]:
    """The navigation items this set of roles sees (plus the slots shown to everybody),
    skipping slots with no registered URL."""
    items = []
    for slot in NAV_SLOTS:
        if slot.role != EVERYONE and slot.role not in roles:
            continue
        url = _resolve(slot.url_names)
        if url is None:
            continue
        items.append(NavItem(slot.label, slot.role, url, slot.description, _is_active(path, url)))
    return items


def initials(name: str) -> str:
    """ "Ada Corpus" -> "AC"; "ada" -> "AD"."""
    words = name.split()
    if len(words) >= 2:
        return (words[0][0] + words[-1][0]).upper()
    return name[:2].upper()


def navigation(request: HttpRequest) -> dict:
    """Adds ``nav_items``, ``nav_roles``, ``nav_role_titles``, ``nav_profile``,
    ``nav_display_name`` and ``nav_initials`` (for the avatar)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "nav_items": nav_items_for(roles=[], path=request.path),
            "nav_roles": [],
            "nav_role_titles": [],
            "nav_profile": None,
            "nav_display_name": "",
            "nav_initials": "",
        }
    profile = profile_for(user)
    roles = user_roles(user, profile=profile)
    display_name = (profile.display_name if profile else "") or user.get_username()
    return {
        "nav_items": nav_items_for(roles=roles, path=request.path),
        "nav_roles": roles,
        "nav_role_titles": [ROLE_TITLES[role] for role in roles],
        "nav_profile": profile,
        "nav_display_name": display_name,
        "nav_initials": initials(display_name),
    }


def payments_mode(request: HttpRequest) -> dict:
    """``payments_test_mode``: payments run on the test gateway, so every page says that no
    real money moves (templates/partials/test_mode_banner.html)."""
    from payments.gateways import gateway_is_test_mode

    return {"payments_test_mode": gateway_is_test_mode()}
