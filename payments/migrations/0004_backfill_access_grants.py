"""Backfill marketplace access grants from the live entitlements of paid orders: from now on
the marketplace and valuation pages read grants, and payments writes them on payment."""

from django.db import migrations


def backfill(apps, schema_editor):
    Entitlement = apps.get_model("payments", "Entitlement")
    OrderLine = apps.get_model("payments", "OrderLine")
    AccessGrant = apps.get_model("marketplace", "AccessGrant")
    for entitlement in Entitlement.objects.filter(revoked_at__isnull=True).iterator():
        source = f"order:{entitlement.order_id}"
        known = set(AccessGrant.objects.filter(source=source).values_list("sample_ref", flat=True))
        grants = [
            AccessGrant(
                user_id=entitlement.buyer_id,
                sample_ref=int(sample_ref),
                listing_ref=int(listing_ref),
                source=source,
                granted_at=entitlement.granted_at,
            )
            for sample_ref, listing_ref in OrderLine.objects.filter(
                order_id=entitlement.order_id
            ).values_list("sample_ref", "listing_ref")
            if sample_ref.isdigit() and listing_ref.isdigit() and int(sample_ref) not in known
        ]
        AccessGrant.objects.bulk_create(grants)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0003_per_provider_gross_and_fee"),
        ("marketplace", "0005_access_grant"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
