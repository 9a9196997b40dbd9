"""Per-provider gross and fee on payout lines; gross, fee and exact price on order lines.

Orders priced by the 2026-11-v1 formula had one platform fee per order: their payout lines get
the order's fee shared pro rata to their amounts (gross = amount + fee), and their order lines
keep their payouts (gross = payout, fee 0), since that formula's per-sample prices and payouts
did not nest.
"""

from django.db import migrations, models
from django.db.models import F, Q


def _fill_existing(apps, schema_editor):
    from payments.allocation import allocate_pro_rata

    PayoutLine = apps.get_model("payments", "PayoutLine")
    OrderLine = apps.get_model("payments", "OrderLine")
    Order = apps.get_model("payments", "Order")
    OrderLine.objects.update(gross=F("payout"), fee=0)
    for order in Order.objects.filter(payout_lines__isnull=False).distinct():
        lines = list(PayoutLine.objects.filter(order=order).order_by("pk"))
        weights = {line.pk: line.amount for line in lines}
        fee = min(order.fee, sum(weights.values())) if sum(weights.values()) else 0
        shares = allocate_pro_rata(fee, weights)
        for line in lines:
            line.fee = shares[line.pk]
            line.gross = line.amount + line.fee
            line.save(update_fields=["fee", "gross"])


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_ledger_balance_trigger")]

    operations = [
        migrations.RenameField(model_name="orderline", old_name="price", new_name="gross"),
        migrations.AddField(
            model_name="orderline",
            name="fee",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="orderline",
            name="price",
            field=models.TextField(
                default="0", help_text="Exact price to the buyer as 'n/d' minor units."
            ),
        ),
        migrations.AlterField(
            model_name="orderline",
            name="value",
            field=models.TextField(help_text="Exact LinFiK value as 'n/d'."),
        ),
        migrations.RemoveConstraint(model_name="payoutline", name="payments_payout_line_amounts"),
        migrations.AddField(
            model_name="payoutline", name="gross", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="payoutline", name="fee", field=models.BigIntegerField(default=0)
        ),
        migrations.AlterField(
            model_name="payoutline",
            name="amount",
            field=models.BigIntegerField(help_text="The payout: gross less the platform fee."),
        ),
        migrations.RunPython(_fill_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="payoutline", name="gross", field=models.BigIntegerField()
        ),
        migrations.AlterField(model_name="payoutline", name="fee", field=models.BigIntegerField()),
        migrations.AddConstraint(
            model_name="payoutline",
            constraint=models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(fee__gte=0)
                & Q(gross=F("fee") + F("amount"))
                & Q(amount_refunded__gte=0)
                & Q(amount_refunded__lte=F("amount")),
                name="payments_payout_line_amounts",
            ),
        ),
        migrations.AddConstraint(
            model_name="orderline",
            constraint=models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(payout__gte=0) & Q(gross=F("fee") + F("payout")),
                name="payments_order_line_parts_sum",
            ),
        ),
    ]
