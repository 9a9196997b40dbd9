"""A test URLconf: the real site, plus role-protected test views and stand-ins for the
marketplace pages that the navigation links to (payments registers its own pages).

Use with ``@pytest.mark.urls("tests.accounts.urls_for_tests")``.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBuyer, IsProvider, IsStaff, RoleRequiredMixin, role_required
from accounts.selectors import profile_for
from accounts.services import profile_update
from config.urls import urlpatterns as site_urlpatterns

handler403 = "website.views.permission_denied"
handler404 = "website.views.page_not_found"
handler500 = "website.views.server_error"

WRITTEN = "written by a role-protected view"


def _write(request: HttpRequest) -> None:
    """The side effect a denied request must never cause."""
    profile = profile_for(request.user)
    profile_update(
        user=request.user,
        display_name=profile.display_name if profile else "",
        organisation=WRITTEN,
        is_provider=bool(profile and profile.is_provider),
        is_buyer=bool(profile and profile.is_buyer),
    )


@role_required("provider")
def provider_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _write(request)
    return HttpResponse("provider page")


@role_required("provider", "buyer")
def member_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("member page")


class StaffPage(RoleRequiredMixin, View):
    required_roles = ("staff",)

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("staff page")

    def post(self, request: HttpRequest) -> HttpResponse:
        _write(request)
        return HttpResponse("staff page")


class _WritingApi(APIView):
    def post(self, request: Request) -> Response:
        _write(request)
        return Response({"ok": True})


class ProviderApi(_WritingApi):
    permission_classes = [IsProvider]


class BuyerApi(_WritingApi):
    permission_classes = [IsBuyer]


class StaffApi(_WritingApi):
    permission_classes = [IsStaff]


def stub(label: str):
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"stub: {label}")

    return view


marketplace_stubs = (
    [
        path("datasets/mine/", stub("my datasets"), name="provider_datasets"),
        path("browse/", stub("browse"), name="listing_list"),
        path("tasks/", stub("tasks"), name="task_list"),
    ],
    "marketplace",
)

urlpatterns = [
    path("test-roles/provider/", provider_page, name="test-provider-page"),
    path("test-roles/member/", member_page, name="test-member-page"),
    path("test-roles/staff/", StaffPage.as_view(), name="test-staff-page"),
    path("test-roles/api/provider/", ProviderApi.as_view(), name="test-provider-api"),
    path("test-roles/api/buyer/", BuyerApi.as_view(), name="test-buyer-api"),
    path("test-roles/api/staff/", StaffApi.as_view(), name="test-staff-api"),
    path("market/", include(marketplace_stubs)),
    *site_urlpatterns,
]
