import pytest
from rest_framework.authtoken.models import Token

TOKEN = "/api/accounts/token/"
ME = "/api/accounts/me/"


@pytest.mark.django_db
def test_token_endpoint_returns_the_users_token(api_client, provider):
    response = api_client.post(TOKEN, {"username": "prov", "password": "correct-horse-battery-9"})

    assert response.status_code == 200
    token = Token.objects.get(user=provider)
    assert response.json() == {"token": token.key}


@pytest.mark.django_db
def test_token_endpoint_returns_the_same_token_twice(api_client, provider):
    credentials = {"username": "prov", "password": "correct-horse-battery-9"}

    first = api_client.post(TOKEN, credentials, format="json").json()["token"]
    second = api_client.post(TOKEN, credentials, format="json").json()["token"]

    assert first == second
    assert Token.objects.count() == 1


@pytest.mark.django_db
def test_token_endpoint_rejects_bad_credentials_without_creating_a_token(api_client, provider):
    response = api_client.post(TOKEN, {"username": "prov", "password": "wrong"})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {"non_field_errors": ["Unable to log in with the provided credentials."]},
        }
    }
    assert Token.objects.count() == 0


@pytest.mark.django_db
def test_token_endpoint_requires_both_fields(api_client):
    response = api_client.post(TOKEN, {"username": "prov"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"password": ["This field is required."]}


@pytest.mark.django_db
def test_token_endpoint_rejects_get(api_client):
    assert api_client.get(TOKEN).status_code == 405


@pytest.mark.django_db
def test_me_with_token(api_client, make_user):
    user = make_user(
        "both", roles=("provider", "buyer"), display_name="Both Ways", organisation="Org"
    )
    token = Token.objects.create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api_client.get(ME)

    assert response.status_code == 200
    body = response.json()
    assert body.pop("date_joined") == user.date_joined.isoformat().replace("+00:00", "Z")
    assert body == {
        "id": user.pk,
        "username": "both",
        "email": "both@example.com",
        "display_name": "Both Ways",
        "organisation": "Org",
        "roles": ["provider", "buyer"],
        "is_provider": True,
        "is_buyer": True,
        "is_staff": False,
    }


@pytest.mark.django_db
def test_me_lists_staff_role(api_client, make_user):
    staff = make_user("boss", staff=True)
    api_client.force_authenticate(staff)

    body = api_client.get(ME).json()

    assert (body["roles"], body["is_staff"], body["display_name"]) == (["staff"], True, "boss")


@pytest.mark.django_db
def test_me_requires_authentication(api_client):
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": {},
        }
    }


@pytest.mark.django_db
def test_me_rejects_a_bad_token(api_client, provider):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.django_db
def test_accounts_endpoints_are_in_the_openapi_schema(api_client, provider):
    api_client.force_authenticate(provider)

    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert set(paths[TOKEN]) == {"post"}
    assert set(paths[ME]) == {"get"}
    assert "security" not in paths[TOKEN]["post"]  # no credentials needed to get a token
    assert {"tokenAuth": []} in paths[ME]["get"]["security"]
    components = schema["components"]["schemas"]
    assert set(components["TokenRequest"]["required"]) == {"username", "password"}
    assert components["Me"]["properties"]["roles"]["items"]["$ref"] == (
        "#/components/schemas/RolesEnum"
    )
