from django.urls import path

from website import market_pages, views

app_name = "website"

urlpatterns = [
    path("", views.home, name="home"),
    path("styleguide/", views.styleguide, name="styleguide"),
    path("favicon.ico", views.favicon, name="favicon"),
]

# Marketplace pages showing valuation results; config/urls.py adds them to the ``marketplace``
# namespace after marketplace.urls (so "data/notices/"-style literals there match first).
marketplace_pages = [
    path("provider/datasets/", market_pages.provider_datasets, name="provider_datasets"),
    path("provider/datasets/<slug:slug>/", market_pages.provider_listing, name="provider_listing"),
    path("data/", market_pages.listing_list, name="listing_list"),
    path("data/<slug:slug>/", market_pages.listing_detail, name="listing_detail"),
]
