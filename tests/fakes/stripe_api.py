"""A local HTTP fake of the parts of the Stripe API that DataMarket calls.

``FakeStripe`` runs a threaded ``http.server`` on 127.0.0.1 at a free port; point the official
``stripe`` library at it (``STRIPE_API_BASE = fake.url``). Responses are Stripe's own example
objects from ``tests/fakes/stripe_fixtures/fixtures3.json`` (deep-copied, with ids, amounts and the
fields Stripe echoes overridden from the request). Like Stripe, it:

* records every request (method, path, form-decoded params, ``Idempotency-Key``) so tests can
  check exactly what each call sent (``fake.requests``, ``fake.calls("POST", "/v1/transfers")``);
* replays the saved response of an idempotency key (errors included) and refuses a key reused
  with different parameters (``idempotency_error``);
* answers unknown ids with 404 ``resource_missing``.

Failures can be injected: ``fail_next`` answers matching requests with a Stripe error (saved
under the idempotency key, as Stripe saves errors once execution began), ``drop_next`` runs the
request and then drops the connection without answering (a lost response).

Test helpers stand in for what happens on Stripe's side: ``complete_checkout``,
``refund_charge``, ``update_account``, ``payout``, and ``event`` / ``sign`` to build signed
webhook deliveries. Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Stripe's example API objects (MIT, see the LICENSE and README beside the file).
FIXTURES_PATH = Path(__file__).resolve().parent / "stripe_fixtures" / "fixtures3.json"


def load_fixtures(path: Path = FIXTURES_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())["resources"]


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to nested values: ``a[b][0][c]=x`` -> {"a": {"b": [{"c": "x"}]}}.

    Values stay strings, exactly as sent on the wire.
    """
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", raw_key)
        node = root
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            if part == "[]":  # "expand[]=x": append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    headers: dict[str, str]


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    times: int
    status: int = 400
    body: dict[str, Any] = field(default_factory=dict)
    drop: bool = False  # run the request, then drop the connection


class StripeError(Exception):
    def __init__(self, status: int, error_type: str, message: str, code: str = "", param: str = ""):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": error_type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


class FakeStripe:
    def __init__(self, fixtures: dict[str, Any] | None = None):
        self.fixtures = fixtures if fixtures is not None else load_fixtures()
        self.requests: list[RecordedRequest] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self._saved: dict[str, tuple[str, str, dict[str, Any], int, dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self._counter = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- Lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:  # noqa: N802
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeStripe is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- Inspection and failure injection ---------------------------------------------------

    def calls(self, method: str, path: str | re.Pattern[str]) -> list[RecordedRequest]:
        """Recorded requests with this method whose path equals ``path`` (or matches it)."""
        with self._lock:
            if isinstance(path, re.Pattern):
                return [r for r in self.requests if r.method == method and path.fullmatch(r.path)]
            return [r for r in self.requests if r.method == method and r.path == path]

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 400,
        error_type: str = "invalid_request_error",
        code: str = "",
        message: str = "Injected failure",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching (method, path regex) with this error."""
        error = StripeError(status, error_type, message, code=code)
        with self._lock:
            self._failures.append(
                _Failure(method, re.compile(path), times, status=status, body=error.body)
            )

    def drop_next(self, method: str, path: str, *, times: int = 1) -> None:
        """Run the next ``times`` matching requests, then close the connection unanswered."""
        with self._lock:
            self._failures.append(_Failure(method, re.compile(path), times, drop=True))

    # --- HTTP -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(body, keep_blank_values=True) + parse_qsl(
            split.query, keep_blank_values=True
        )
        params = decode_form(pairs)
        key = handler.headers.get("Idempotency-Key")
        recorded = RecordedRequest(method, split.path, params, key, dict(handler.headers.items()))
        with self._lock:
            self.requests.append(recorded)
            status, payload, drop, replayed = self._respond(method, split.path, params, key)
        if drop:
            handler.close_connection = True
            return
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_fake_{next(self._counter)}")
        if key:
            handler.send_header("Idempotency-Key", key)
        if replayed:
            handler.send_header("Idempotent-Replayed", "true")
        handler.end_headers()
        handler.wfile.write(data)

    def _respond(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> tuple[int, dict[str, Any], bool, bool]:
        if key and method == "POST" and key in self._saved:
            saved_method, saved_path, saved_params, status, payload = self._saved[key]
            if (saved_method, saved_path, saved_params) != (method, path, params):
                error = StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{key}' if you meant to execute a different request.",
                )
                return error.status, error.body, False, False
            return status, copy.deepcopy(payload), False, True

        failure = self._take_failure(method, path)
        drop = bool(failure and failure.drop)
        if failure and not failure.drop:
            status, payload = failure.status, failure.body
        else:
            try:
                status, payload = 200, self._route(method, path, params)
            except StripeError as exc:
                status, payload = exc.status, exc.body
        if key and method == "POST":
            self._saved[key] = (method, path, params, status, copy.deepcopy(payload))
        return status, payload, drop, False

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.times > 0 and failure.method == method and failure.path.fullmatch(path):
                failure.times -= 1
                return failure
        return None

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        routes = [
            ("POST", r"/v1/accounts", self._account_create),
            ("GET", r"/v1/accounts/(?P<id>[^/]+)", self._get("account")),
            ("POST", r"/v1/account_links", self._account_link_create),
            ("POST", r"/v1/checkout/sessions", self._session_create),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._session_get),
            ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._get("payment_intent")),
            ("GET", r"/v1/charges/(?P<id>[^/]+)", self._get("charge")),
            ("POST", r"/v1/transfers", self._transfer_create),
            ("GET", r"/v1/transfers/(?P<id>[^/]+)", self._get("transfer")),
            ("POST", r"/v1/transfers/(?P<id>[^/]+)/reversals", self._reversal_create),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                return action(params, **match.groupdict())
        raise StripeError(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
        )

    # --- Resources --------------------------------------------------------------------------

    def _new(self, resource: str, prefix: str, **overrides: Any) -> dict[str, Any]:
        obj = copy.deepcopy(self.fixtures[resource])
        obj["id"] = f"{prefix}_fake{next(self._counter):06d}"
        obj["created"] = int(time.time())
        obj["livemode"] = False
        obj.update(overrides)
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, resource: str):
        def action(params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
            return copy.deepcopy(self._require(resource, id))

        return action

    def _require(self, resource: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != resource:
            raise StripeError(
                404 if param == "id" else 400,
                "invalid_request_error",
                f"No such {resource}: '{object_id}'",
                code="resource_missing",
                param=param,
            )
        return obj

    @staticmethod
    def _required(params: dict[str, Any], *names: str) -> None:
        for name in names:
            if name not in params or params[name] in ("", None):
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )

    def _account_create(self, params: dict[str, Any]) -> dict[str, Any]:
        controller = params.get("controller") or {}
        capabilities = {name: "inactive" for name in (params.get("capabilities") or {})}
        account = self._new(
            "account",
            "acct",
            email=params.get("email"),
            metadata=params.get("metadata") or {},
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            capabilities=capabilities or self.fixtures["account"]["capabilities"],
            controller={
                **controller,
                "is_controller": True,
                "type": "application" if controller else "account",
            },
        )
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        return copy.deepcopy(account)

    def _account_link_create(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "account", "type")
        self._require("account", params["account"], param="account")
        if params["type"] == "account_onboarding":
            self._required(params, "refresh_url", "return_url")
        link = copy.deepcopy(self.fixtures["account_link"])
        now = int(time.time())
        link.update(
            created=now,
            expires_at=now + 300,
            url=f"https://connect.stripe.test/setup/e/{params['account']}/{next(self._counter)}",
        )
        return link

    def _session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "mode", "success_url")
        items = params.get("line_items") or []
        if not items:
            raise StripeError(
                400,
                "invalid_request_error",
                "line_items is required in payment mode.",
                code="parameter_missing",
                param="line_items",
            )
        total = 0
        currencies = set()
        for item in items:
            price = item.get("price_data") or {}
            total += int(price["unit_amount"]) * int(item.get("quantity", "1"))
            currencies.add(price["currency"])
        if len(currencies) != 1:
            raise StripeError(400, "invalid_request_error", "All line items must share a currency.")
        session = self._new(
            "checkout.session",
            "cs_test",
            mode=params["mode"],
            amount_subtotal=total,
            amount_total=total,
            currency=currencies.pop(),
            metadata=params.get("metadata") or {},
            client_reference_id=params.get("client_reference_id"),
            customer_email=params.get("customer_email"),
            success_url=params["success_url"],
            cancel_url=params.get("cancel_url"),
            payment_intent=None,
            payment_status="unpaid",
            status="open",
            shipping_cost=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        )
        session["url"] = f"https://checkout.stripe.test/c/pay/{session['id']}"
        session["_payment_intent_data"] = params.get("payment_intent_data") or {}
        return self._public(session)

    def _session_get(self, params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
        session = self._public(self._require("checkout.session", id))
        if "payment_intent" in (params.get("expand") or []) and session["payment_intent"]:
            session["payment_intent"] = copy.deepcopy(self.objects[session["payment_intent"]])
        return session

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def _transfer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "amount", "currency", "destination")
        self._require("account", params["destination"], param="destination")
        amount = int(params["amount"])
        if amount <= 0:
            raise StripeError(
                400, "invalid_request_error", "Amount must be positive.", param="amount"
            )
        source = params.get("source_transaction")
        if source:
            self._require("charge", source, param="source_transaction")
        transfer = self._new(
            "transfer",
            "tr",
            amount=amount,
            amount_reversed=0,
            currency=params["currency"],
            destination=params["destination"],
            transfer_group=params.get("transfer_group"),
            source_transaction=source,
            metadata=params.get("metadata") or {},
            reversed=False,
        )
        transfer["reversals"] = {
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/transfers/{transfer['id']}/reversals",
        }
        return copy.deepcopy(transfer)

    def _reversal_create(self, params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
        transfer = self._require("transfer", id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = int(params.get("amount", remaining))
        if amount <= 0 or amount > remaining:
            raise StripeError(
                400,
                "invalid_request_error",
                f"You have requested a reversal of {amount}, but only {remaining} remains.",
                code="amount_too_large" if amount > 0 else "",
                param="amount",
            )
        reversal = self._new(
            "transfer_reversal",
            "trr",
            amount=amount,
            currency=transfer["currency"],
            transfer=transfer["id"],
            metadata=params.get("metadata") or {},
        )
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].append(copy.deepcopy(reversal))
        return copy.deepcopy(reversal)

    # --- What happens on Stripe's side (test helpers) ---------------------------------------

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """The buyer paid: a payment intent and a succeeded charge now exist."""
        with self._lock:
            session = self._require("checkout.session", session_id)
            intent_data = session.get("_payment_intent_data") or {}
            transfer_group = intent_data.get("transfer_group")
            metadata = intent_data.get("metadata") or {}
            intent = self._new(
                "payment_intent",
                "pi",
                amount=session["amount_total"],
                amount_received=session["amount_total"],
                currency=session["currency"],
                status="succeeded",
                transfer_group=transfer_group,
                metadata=metadata,
                canceled_at=None,
                last_payment_error=None,
                next_action=None,
                transfer_data=None,
                processing=None,
            )
            charge = self._new(
                "charge",
                "ch",
                amount=session["amount_total"],
                amount_captured=session["amount_total"],
                amount_refunded=0,
                captured=True,
                paid=True,
                refunded=False,
                currency=session["currency"],
                payment_intent=intent["id"],
                transfer_group=transfer_group,
                metadata=metadata,
                status="succeeded",
            )
            intent["latest_charge"] = charge["id"]
            session.update(payment_intent=intent["id"], payment_status="paid", status="complete")
            return self._public(session)

    def refund_charge(self, charge_id: str, amount: int) -> dict[str, Any]:
        """Refund ``amount`` of a charge (as from the Dashboard); returns the charge."""
        with self._lock:
            charge = self._require("charge", charge_id)
            if charge["amount_refunded"] + amount > charge["amount"]:
                raise ValueError(f"cannot refund {amount} more of {charge_id}")
            refund = self._new(
                "refund",
                "re",
                amount=amount,
                charge=charge_id,
                currency=charge["currency"],
                payment_intent=charge["payment_intent"],
                status="succeeded",
            )
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            charge["refunds"]["data"].append(copy.deepcopy(refund))
            return copy.deepcopy(charge)

    def update_account(self, account_id: str, **fields: Any) -> dict[str, Any]:
        """Change an account (e.g. charges_enabled=True); ``requirements`` merges."""
        with self._lock:
            account = self._require("account", account_id)
            requirements = fields.pop("requirements", None)
            account.update(fields)
            if requirements is not None:
                account["requirements"].update(requirements)
            return copy.deepcopy(account)

    def payout(self, *, status: str, amount: int, currency: str = "usd", **fields: Any) -> dict:
        """A payout object of a connected account (payouts are not created through us)."""
        with self._lock:
            return copy.deepcopy(
                self._new("payout", "po", status=status, amount=amount, currency=currency, **fields)
            )

    def event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        account: str | None = None,
        created: int | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """An event object (Stripe's example event) wrapping ``obj``."""
        event = copy.deepcopy(self.fixtures["event"])
        event.update(
            id=event_id or f"evt_fake{next(self._counter):06d}",
            type=event_type,
            created=created if created is not None else int(time.time()),
            data={"object": copy.deepcopy(obj)},
            livemode=False,
            api_version="2026-10-28.endive",
        )
        if account:
            event["account"] = account
        return event


def sign(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header: ``t=<ts>,v1=hex(HMAC-SHA256(secret, "<ts>.<payload>"))``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"
