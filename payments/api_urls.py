from django.urls import path

from payments import api

app_name = "payments-api"

urlpatterns = [
    path("quotes/", api.QuoteCreateApi.as_view(), name="quote_create"),
    path("quotes/<int:quote_id>/", api.QuoteDetailApi.as_view(), name="quote_detail"),
    path("quotes/<int:quote_id>/accept/", api.QuoteAcceptApi.as_view(), name="quote_accept"),
    path("orders/", api.OrderListApi.as_view(), name="order_list"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="order_detail"),
    path("orders/<int:order_id>/download/", api.OrderDownloadApi.as_view(), name="order_download"),
    path(
        "orders/<int:order_id>/dataset-card/",
        api.OrderDatasetCardApi.as_view(),
        name="order_dataset_card",
    ),
    path("provider/balance/", api.ProviderBalanceApi.as_view(), name="provider_balance"),
]
