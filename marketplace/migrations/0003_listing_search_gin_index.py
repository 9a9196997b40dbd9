"""A GIN index on the listings' weighted full-text vector, on PostgreSQL only (SQLite searches
with plain matching). The expression must stay identical to ``marketplace.selectors.
listing_search_vector`` for the planner to use the index."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEX_NAME = "listing_search_vector_gin"


def _index() -> GinIndex:
    vector = (
        SearchVector("title", weight="A", config="english")
        + SearchVector("description", weight="B", config="english")
        + SearchVector("source", "intended_use", weight="C", config="english")
    )
    return GinIndex(vector, name=INDEX_NAME)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("marketplace", "Listing"), _index())


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("marketplace", "Listing"), _index())


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0002_alter_listing_currency"),
    ]

    operations = [migrations.RunPython(create_index, drop_index)]
