import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Profile

User = get_user_model()
SIGNUP = "/accounts/signup/"


def signup_data(**overrides) -> dict:
    data = {
        "username": "newbie",
        "email": "Newbie@Example.com",
        "display_name": "Newbie Labs",
        "organisation": "Newbie Inc.",
        "roles": ["provider", "buyer"],
        "password1": "an-unusual-passphrase-42",
        "password2": "an-unusual-passphrase-42",
    }
    data.update(overrides)
    return data


def test_signup_url_names():
    assert reverse("accounts:signup") == SIGNUP
    assert reverse("accounts:login") == "/accounts/login/"
    assert reverse("accounts:logout") == "/accounts/logout/"
    assert reverse("accounts:profile") == "/accounts/profile/"


@pytest.mark.django_db
def test_signup_page_preselects_role_from_query(client):
    response = client.get(SIGNUP, {"role": "provider"})

    assert response.status_code == 200
    assert response.context["form"].initial == {"roles": ["provider"]}
    html = response.content.decode()
    assert 'value="provider" id="id_roles_0" checked' in html
    assert 'value="buyer" id="id_roles_1" checked' not in html


@pytest.mark.django_db
def test_signup_with_both_roles_creates_user_profile_and_logs_in(client):
    response = client.post(SIGNUP, signup_data())

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get()
    assert user.username == "newbie"
    assert user.email == "newbie@example.com"
    assert user.check_password("an-unusual-passphrase-42")
    assert not user.is_staff
    profile = Profile.objects.get(user=user)
    assert (profile.display_name, profile.organisation) == ("Newbie Labs", "Newbie Inc.")
    assert profile.roles == ["provider", "buyer"]
    assert client.session["_auth_user_id"] == str(user.pk)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Welcome to DataMarket — your account is ready."
    ]


@pytest.mark.django_db
def test_signup_with_buyer_role_only(client):
    client.post(SIGNUP, signup_data(roles=["buyer"]))

    assert Profile.objects.get().roles == ["buyer"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"roles": []}, "roles", "Choose at least one role: provider, buyer or both."),
        (
            {"roles": ["admin"]},
            "roles",
            "Select a valid choice. admin is not one of the available choices.",
        ),
        ({"password2": "something-else-42"}, "password2", "The two passwords do not match."),
        (
            {"password1": "12345678", "password2": "12345678"},
            "password1",
            "This password is too common.",
        ),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"username": "bad name!"}, "username", None),
    ],
)
def test_signup_rejects_invalid_input_without_creating_anything(client, overrides, field, error):
    response = client.post(SIGNUP, signup_data(**overrides))

    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert errors
    if error is not None:
        assert error in errors
    assert User.objects.count() == 0
    assert Profile.objects.count() == 0
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_signup_rejects_a_taken_username_but_never_says_an_email_is_registered(client, make_user):
    make_user("newbie", email="other@example.com")
    make_user("someone", email="newbie@example.com")

    response = client.post(SIGNUP, signup_data(username="NEWBIE"))

    assert response.status_code == 200
    assert response.context["form"].errors == {"username": ["That username is taken."]}
    assert b"already exists" not in response.content
    assert User.objects.count() == 2


@pytest.mark.django_db
def test_signup_redirects_signed_in_users(client, provider):
    client.force_login(provider)

    response = client.post(SIGNUP, signup_data())

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.count() == 1
