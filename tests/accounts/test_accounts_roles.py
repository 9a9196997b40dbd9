"""accounts.permissions: role checks for pages (decorator and mixin) and for the API."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.models import Profile
from accounts.permissions import IsBuyer, IsProvider, IsStaff, RoleRequired, role_required
from tests.accounts.urls_for_tests import WRITTEN

pytestmark = pytest.mark.urls("tests.accounts.urls_for_tests")


def organisations() -> dict[str, str]:
    return dict(Profile.objects.values_list("user__username", "organisation"))


def test_role_required_rejects_unknown_roles():
    with pytest.raises(ValueError, match="Unknown role"):
        role_required("admin")
    with pytest.raises(ValueError, match="at least one role"):
        role_required()


@pytest.mark.django_db
def test_decorator_unit_behaviour(make_user):
    view = role_required("buyer")(lambda request: HttpResponse("ok"))
    factory = RequestFactory()

    anonymous = factory.get("/somewhere/?x=1")
    anonymous.user = AnonymousUser()
    redirect = view(anonymous)
    assert redirect.status_code == 302
    assert redirect["Location"] == "/accounts/login/?next=/somewhere/%3Fx%3D1"

    wrong_role = factory.get("/somewhere/")
    wrong_role.user = make_user("p", roles=("provider",))
    with pytest.raises(RoleRequired) as denied:
        view(wrong_role)
    assert isinstance(denied.value, PermissionDenied)
    assert denied.value.roles == ("buyer",)
    assert str(denied.value) == "This page is only for data buyers."

    allowed = factory.get("/somewhere/")
    allowed.user = make_user("b", roles=("buyer",))
    assert view(allowed).content == b"ok"


@pytest.mark.django_db
def test_anonymous_page_request_redirects_to_login_and_writes_nothing(client, provider):
    response = client.post("/test-roles/provider/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/test-roles/provider/"
    assert organisations() == {"prov": "ACME"}


@pytest.mark.django_db
def test_wrong_role_gets_rendered_403_and_nothing_changes(client, provider, buyer):
    client.force_login(buyer)

    response = client.post("/test-roles/provider/")

    assert response.status_code == 403
    assert [t.name for t in response.templates][0] == "403.html"
    html = response.content.decode()
    assert "This page is only for data providers." in html
    assert 'href="/accounts/profile/"' in html
    assert organisations() == {"prov": "ACME", "buy": "LabCo"}


@pytest.mark.django_db
def test_right_role_gets_through_and_the_write_happens(client, provider):
    client.force_login(provider)

    response = client.post("/test-roles/provider/")

    assert response.status_code == 200
    assert response.content == b"provider page"
    assert organisations() == {"prov": WRITTEN}


@pytest.mark.django_db
def test_any_of_several_roles_is_enough(client, provider, buyer, make_user):
    nobody = make_user("nobody")
    for user, status in ((provider, 200), (buyer, 200), (nobody, 403)):
        client.force_login(user)
        assert client.get("/test-roles/member/").status_code == status


@pytest.mark.django_db
def test_staff_mixin(client, provider, make_user):
    staff = make_user("boss", staff=True)

    client.force_login(provider)
    denied = client.post("/test-roles/staff/")
    client.force_login(staff)
    allowed = client.get("/test-roles/staff/")

    assert denied.status_code == 403
    assert "This page is only for staff." in denied.content.decode()
    assert 'href="/accounts/profile/">profile page' not in denied.content.decode()
    assert organisations() == {"prov": "ACME", "boss": ""}
    assert allowed.status_code == 200


@pytest.mark.django_db
def test_staff_mixin_redirects_anonymous(client):
    response = client.get("/test-roles/staff/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/test-roles/staff/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "role"),
    [
        ("/test-roles/api/provider/", "provider"),
        ("/test-roles/api/buyer/", "buyer"),
        ("/test-roles/api/staff/", "staff"),
    ],
)
def test_api_role_denied_is_403_with_no_side_effect(make_user, url, role):
    others = {"provider": ("buyer",), "buyer": ("provider",), "staff": ("provider", "buyer")}
    user = make_user("someone", roles=others[role])
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(url)

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "missing_role",
            "message": f"This action needs the {role} role.",
            "details": {},
        }
    }
    assert organisations() == {"someone": ""}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "roles", "staff"),
    [
        ("/test-roles/api/provider/", ("provider",), False),
        ("/test-roles/api/buyer/", ("buyer",), False),
        ("/test-roles/api/staff/", (), True),
    ],
)
def test_api_role_allowed(make_user, url, roles, staff):
    user = make_user("someone", roles=roles, staff=staff)
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(url)

    assert response.status_code == 200
    assert organisations() == {"someone": WRITTEN}


@pytest.mark.django_db
def test_api_anonymous_is_401_with_no_side_effect(provider):
    response = APIClient().post("/test-roles/api/provider/")

    assert response.status_code == 401
    assert organisations() == {"prov": "ACME"}


def test_permission_classes_name_their_role():
    assert (IsProvider.role, IsBuyer.role, IsStaff.role) == ("provider", "buyer", "staff")
