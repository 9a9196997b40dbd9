import pytest
from django.contrib.auth import get_user_model

from accounts.models import Profile

User = get_user_model()
PROFILE = "/accounts/profile/"


@pytest.mark.django_db
def test_profile_redirects_anonymous_to_login(client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/profile/"


@pytest.mark.django_db
def test_profile_shows_current_values(client, provider):
    client.force_login(provider)

    response = client.get(PROFILE)

    assert response.status_code == 200
    assert response.context["form"].initial == {
        "display_name": "Prov Data",
        "organisation": "ACME",
        "roles": ["provider"],
    }
    html = response.content.decode()
    assert '<span class="badge badge-provider">Provider</span>' in html
    assert "curl -X POST http://testserver/api/accounts/token/" in html


@pytest.mark.django_db
def test_profile_update_changes_name_organisation_and_roles(client, provider):
    client.force_login(provider)

    response = client.post(
        PROFILE, {"display_name": "New Name", "organisation": "NewCo", "roles": ["buyer"]}
    )

    assert response.status_code == 302
    assert response["Location"] == PROFILE
    profile = Profile.objects.get(user=provider)
    assert (profile.display_name, profile.organisation) == ("New Name", "NewCo")
    assert (profile.is_provider, profile.is_buyer) == (False, True)


@pytest.mark.django_db
def test_profile_update_refuses_to_drop_every_role(client, provider):
    client.force_login(provider)

    response = client.post(PROFILE, {"display_name": "X", "organisation": "Y", "roles": []})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "roles": ["Keep at least one role: provider, buyer or both."]
    }
    profile = Profile.objects.get(user=provider)
    assert (profile.display_name, profile.organisation, profile.roles) == (
        "Prov Data",
        "ACME",
        ["provider"],
    )


@pytest.mark.django_db
def test_staff_without_profile_can_save_one_with_no_roles(client):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-root-1")
    client.force_login(admin)

    assert client.get(PROFILE).status_code == 200
    response = client.post(PROFILE, {"display_name": "Root", "organisation": "", "roles": []})

    assert response.status_code == 302
    profile = Profile.objects.get(user=admin)
    assert (profile.display_name, profile.roles) == ("Root", [])


@pytest.mark.django_db
def test_admin_user_page_has_profile_inline(client, provider):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-root-1")
    client.force_login(admin)

    change = client.get(f"/admin/auth/user/{provider.pk}/change/")
    listing = client.get("/admin/auth/user/", {"profile__is_provider__exact": "1"})

    assert change.status_code == 200
    assert 'name="profile-0-organisation" value="ACME"' in change.content.decode()
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [provider]


@pytest.mark.django_db
def test_admin_is_closed_to_non_staff(client, provider):
    client.force_login(provider)

    response = client.get("/admin/auth/user/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
