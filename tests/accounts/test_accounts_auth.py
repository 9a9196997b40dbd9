import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tests.accounts.helpers import PASSWORD

User = get_user_model()


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "registration/login.html"
    assert 'href="/accounts/password/reset/"' in response.content.decode()


@pytest.mark.django_db
def test_login_with_valid_credentials_redirects_home(client, provider):
    response = client.post("/accounts/login/", {"username": "prov", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(provider.pk)


@pytest.mark.django_db
def test_login_honours_next(client, provider):
    response = client.post(
        "/accounts/login/",
        {"username": "prov", "password": PASSWORD, "next": "/accounts/profile/"},
    )

    assert response["Location"] == "/accounts/profile/"


@pytest.mark.django_db
def test_login_ignores_offsite_next(client, provider):
    response = client.post(
        "/accounts/login/",
        {"username": "prov", "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert response["Location"] == "/"


@pytest.mark.django_db
def test_login_with_wrong_password_shows_error_and_stays_anonymous(client, provider):
    response = client.post("/accounts/login/", {"username": "prov", "password": "nope"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Please enter a correct username and password. Note that both fields may be case-sensitive."
    ]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_requires_post(client, provider):
    client.force_login(provider)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(provider.pk)


@pytest.mark.django_db
def test_logout_post_signs_out(client, provider):
    client.force_login(provider)

    response = client.post("/accounts/logout/", follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert "_auth_user_id" not in client.session
    assert [str(m) for m in response.context["messages"]] == ["You have been signed out."]


@pytest.mark.django_db
def test_password_reset_sends_working_link(client, provider):
    response = client.post("/accounts/password/reset/", {"email": "PROV@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["prov@example.com"]
    assert email.subject == "Reset your DataMarket password"
    assert email.body.startswith("Hello Prov Data,")  # the display name, not the username
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/\S+/)", email.body)
    assert link is not None

    # The token URL redirects to a session-bound "set-password" URL, as Django does.
    confirm = client.get(link.group(1))
    assert confirm.status_code == 302
    form_url = confirm["Location"]
    assert form_url.endswith("/set-password/")
    page = client.get(form_url)
    assert page.status_code == 200
    assert page.context["validlink"] is True

    done = client.post(
        form_url,
        {"new_password1": "a-brand-new-secret-77", "new_password2": "a-brand-new-secret-77"},
    )
    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/complete/"
    provider.refresh_from_db()
    assert provider.check_password("a-brand-new-secret-77")
    assert not provider.check_password(PASSWORD)

    # The link works only once.
    reused = client.get(link.group(1), follow=True)
    assert reused.context["validlink"] is False
    assert "This link has expired" in reused.content.decode()


@pytest.mark.django_db
def test_password_reset_for_unknown_email_sends_nothing_but_looks_the_same(client, provider):
    response = client.post("/accounts/password/reset/", {"email": "ghost@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/accounts/password/reset/",
        "/accounts/password/reset/sent/",
        "/accounts/password/reset/complete/",
        "/accounts/password/reset/MQ/bad-token/",
    ],
)
def test_password_reset_pages_render_with_site_templates(client, url):
    response = client.get(url, follow=True)

    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]


@pytest.mark.django_db
def test_password_change(client, provider):
    client.force_login(provider)

    response = client.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-fresh-secret-5",
            "new_password2": "another-fresh-secret-5",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    provider.refresh_from_db()
    assert provider.check_password("another-fresh-secret-5")
    assert client.session["_auth_user_id"] == str(provider.pk)
