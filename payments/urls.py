from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    # Buyers
    path("orders/", views.order_list, name="order_list"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/download.jsonl", views.order_download, name="order_download"),
    path("orders/<int:order_id>/checkout/", views.order_checkout, name="order_checkout"),
    path("orders/<int:order_id>/success/", views.checkout_success, name="checkout_success"),
    path("orders/<int:order_id>/test-checkout/", views.test_checkout, name="test_checkout"),
    path(
        "orders/<int:order_id>/test-checkout/pay/",
        views.test_checkout_pay,
        name="test_checkout_pay",
    ),
    path("quotes/<int:quote_id>/", views.quote_detail, name="quote_detail"),
    path("quotes/<int:quote_id>/accept/", views.quote_accept, name="quote_accept"),
    # Providers
    path("payouts/", views.payouts, name="payouts"),
    path("payouts.csv", views.payouts_csv, name="payouts_csv"),
    path("connect/", views.connect_start, name="connect_start"),
    path("connect/refresh/", views.connect_refresh, name="connect_refresh"),
    path("connect/return/", views.connect_return, name="connect_return"),
    path(
        "connect/simulated-payout/",
        views.connect_simulated_payout,
        name="connect_simulated_payout",
    ),
    # Staff
    path("revenue/", views.revenue, name="revenue"),
    path("reconcile/", views.reconcile, name="reconcile"),
]
