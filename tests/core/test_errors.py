"""core.errors: every service refusal maps once, by kind, for the API and for pages."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from core.errors import Conflict, Invalid, NotAllowed, NotFound, ServiceError
from core.forms import ServiceErrorFormMixin
from core.middleware import ServiceErrorMiddleware
from marketplace.forms import TargetTaskForm
from payments.errors import NotYoursError, QuoteExpiredError, QuoteNotOpenError, WebhookPayloadError
from valuation.errors import ValuationNotAllowed, ValuationRequestInvalid, ValuationStateError

KINDS = [
    (NotFound("No such thing."), 404, "not_found"),
    (NotAllowed("Only the owner may."), 403, "permission_denied"),
    (Invalid("Bad amount.", field="amount"), 400, "invalid"),
    (Conflict("Already done."), 409, "conflict"),
]


def _api_answer(error: Exception):
    class Raising(APIView):
        permission_classes = []
        authentication_classes = []

        def get(self, request):
            raise error

    return Raising.as_view()(APIRequestFactory().get("/api/x/"))


@pytest.mark.parametrize(("error", "status", "code"), KINDS)
def test_each_kind_has_its_status_and_the_one_api_shape(error, status, code):
    response = _api_answer(error)

    assert response.status_code == status
    body = response.data["error"]
    assert (body["code"], body["message"]) == (code, error.message)
    if status == 400:
        assert body["field"] == "amount"
        assert body["details"] == {"amount": ["Bad amount."]}
    else:
        assert "field" not in body and body["details"] == {}


def test_an_invalid_request_as_a_whole_lists_its_message_as_non_field_errors():
    body = _api_answer(Invalid("Choose a dataset.")).data["error"]
    assert body["details"] == {"non_field_errors": ["Choose a dataset."]}


def test_several_inputs_at_once_and_extra_details_reach_the_client():
    error = Invalid.for_fields(
        {"name": "A name is required.", "slug": ["Taken.", "Too long."]},
        details={"report": {"total_rows": 2}},
    )
    body = _api_answer(error).data["error"]

    assert body["message"] == "A name is required." and body["field"] == "name"
    assert body["details"] == {
        "name": ["A name is required."],
        "slug": ["Taken.", "Too long."],
        "report": {"total_rows": 2},
    }


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ValuationRequestInvalid("Unknown model."), 400, "invalid"),
        (ValuationNotAllowed("Only buyers."), 403, "permission_denied"),
        (ValuationStateError("Already cancelled."), 409, "conflict"),
        (QuoteExpiredError("quote 1 expired"), 409, "quote_expired"),
        (QuoteNotOpenError("quote 1 was already accepted"), 409, "quote_not_open"),
        (NotYoursError("order 1 does not exist or is not yours"), 404, "not_allowed"),
        (WebhookPayloadError("bad", code="bad_signature"), 400, "bad_signature"),
    ],
)
def test_apps_errors_are_kinds_of_service_error_and_keep_their_codes(error, status, code):
    assert isinstance(error, ServiceError)
    response = _api_answer(error)
    assert (response.status_code, response.data["error"]["code"]) == (status, code)


def test_apps_errors_are_still_what_callers_catch():
    assert isinstance(ValuationRequestInvalid("x"), ValueError)
    assert isinstance(ValuationNotAllowed("x"), PermissionError)
    assert isinstance(ValuationStateError("x"), Conflict)


def _page_answer(error: ServiceError):
    request = RequestFactory().post("/somewhere/")
    request.user = AnonymousUser()
    request.session = {}
    request._messages = FallbackStorage(request)
    middleware = ServiceErrorMiddleware(lambda request: None)
    return middleware.process_exception(request, error)


@pytest.mark.django_db
@pytest.mark.parametrize(("error", "status", "code"), KINDS)
def test_pages_answer_a_refusal_no_view_handled_by_kind(error, status, code):
    response = _page_answer(error)

    assert response.status_code == status
    if status != 404:  # the 404 page names the address, never what was refused
        assert error.message in response.content.decode()


def test_pages_leave_other_exceptions_to_django():
    middleware = ServiceErrorMiddleware(lambda request: None)
    assert middleware.process_exception(RequestFactory().get("/"), ValueError("x")) is None


def test_a_form_shows_each_message_on_the_input_it_names():
    form = TargetTaskForm({"name": "n", "description": ""})
    assert form.is_valid()

    form.add_service_error(Invalid.for_fields({"name": "Taken.", "owner": "Not you."}))
    form.add_service_error(Conflict("Changed meanwhile."))

    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Not you.", "Changed meanwhile."]
    assert isinstance(form, ServiceErrorFormMixin)


@pytest.mark.django_db
def test_a_malformed_request_gets_the_refusal_page_with_400(client, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = client.get("/", HTTP_HOST="evil.example")  # DisallowedHost -> handler400

    assert response.status_code == 400
    assert "The request could not be understood." in response.content.decode()
