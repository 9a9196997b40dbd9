"""Row locks: concurrent confirmations and transfers of the same rows book once (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from payments.models import Entitlement, LedgerTransaction, Order, PayoutLine
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("test_mode")]


def run_concurrently(action, times: int = 4) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(times)

    def worker():
        try:
            barrier.wait()
            action()
        except BaseException as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_payment_confirmations_book_the_order_once(require_postgres, sale_quote, buyer):
    order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)

    errors = run_concurrently(lambda: order_test_payment_confirm(order_id=order.pk, buyer=buyer))

    assert errors == []
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert Entitlement.objects.filter(order=order).count() == 1
    assert PayoutLine.objects.filter(order=order).count() == 2
    assert LedgerTransaction.objects.filter(order=order).count() == 3
