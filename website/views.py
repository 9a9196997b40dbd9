"""The home page, the dashboard, the styleguide and the site-wide error pages."""

from django.contrib.staticfiles import finders
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

from accounts.permissions import RoleRequired, role_required
from accounts.selectors import profile_for, user_roles
from core.errors import NotAllowed, ServiceError
from valuation.selectors import demo_valuation_pending, demo_valuation_showcase
from website.context_processors import EVERYONE, ROLE_TITLES, nav_items_for

ROLE_BLURBS = {
    "provider": "List text datasets, see what each sample is worth to real buyers, get paid "
    "in proportion to the value your data delivers.",
    "buyer": "Describe your task with a small target set; we score every candidate sample "
    "and sell you the subset that helps your model most.",
    "staff": "Manage users, roles and platform records.",
}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        showcase = demo_valuation_showcase()
        pending = showcase is None and demo_valuation_pending()
        return render(request, "home.html", {"showcase": showcase, "demo_pending": pending})
    profile = profile_for(request.user)
    roles = user_roles(request.user, profile=profile)
    items = nav_items_for(roles=roles, path=request.path)
    sections = [
        {
            "role": role,
            "title": ROLE_TITLES[role],
            "blurb": ROLE_BLURBS[role],
            # The catalogue is where a buyer starts, so it heads the buyer's shortcuts.
            "items": [
                item
                for item in items
                if item.role == role or (role == "buyer" and item.role == EVERYONE)
            ],
        }
        for role in roles
    ]
    return render(request, "dashboard.html", {"sections": sections, "profile": profile})


@require_safe
@role_required("staff")
def styleguide(request: HttpRequest) -> HttpResponse:
    """Every UI component on one page, for the people building pages (staff only)."""
    chart = {
        "type": "bar",
        "data": {
            "labels": ["Brown news", "Shakespeare", "KJV", "WordNet glosses"],
            "datasets": [
                {
                    "label": "Value delivered (LinFiK)",
                    "data": [41.2, 18.7, 9.4, 27.9],
                    "backgroundColor": "#6366f1",
                    "borderRadius": 6,
                }
            ],
        },
        "options": {"plugins": {"legend": {"display": False}}},
    }
    return render(request, "styleguide.html", {"chart": chart})


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers and feed readers ask for whatever the page links to:
    the vendored icon under static/img/."""
    path = finders.find("img/favicon.ico")
    if path is None:
        raise Http404("No favicon.")
    return FileResponse(open(path, "rb"), content_type="image/x-icon")


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {"required_roles": (), "reason": ""}
    if isinstance(exception, RoleRequired):
        context = {"required_roles": exception.roles, "reason": str(exception)}
    elif isinstance(exception, NotAllowed):
        context = {"required_roles": (), "reason": exception.message}
    html = loader.render_to_string("403.html", context, request=request)
    return HttpResponseForbidden(html)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """For ``handler400``: a service refused bad input or an action the current state does
    not allow (400, 409, with its message), or Django refused a malformed request (400)."""
    if not isinstance(exception, ServiceError):
        exception = ServiceError("The request could not be understood.", code="bad_request")
    html = loader.render_to_string("400.html", {"error": exception}, request=request)
    return HttpResponse(html, status=exception.status)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    html = loader.render_to_string("404.html", {"request_path": request.path}, request=request)
    return HttpResponseNotFound(html)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """For ``CSRF_FAILURE_VIEW``: the styled 403 page instead of Django's plain one."""
    context = {
        "required_roles": (),
        "reason": "Your session expired or the form came from another site. "
        "Go back, reload the page and try again.",
    }
    html = loader.render_to_string("403.html", context, request=request)
    return HttpResponseForbidden(html)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """Render a self-contained page: no request context, no database, no other templates."""
    return HttpResponseServerError(loader.get_template("500.html").render())
