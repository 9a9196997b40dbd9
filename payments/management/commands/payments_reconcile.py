"""``python manage.py payments_reconcile``: check the books; exit 1 on any mismatch."""

from django.core.management.base import BaseCommand, CommandError

from payments.selectors.reconcile import reconciliation_mismatches


class Command(BaseCommand):
    help = (
        "Check every order, ledger transaction, payout line and report total against the "
        "money invariants; print each mismatch, '0 mismatches' when clean."
    )

    def handle(self, *args, **options) -> None:
        mismatches = reconciliation_mismatches()
        for mismatch in mismatches:
            self.stdout.write(str(mismatch))
        count = len(mismatches)
        summary = f"{count} mismatch{'es' if count != 1 else ''}"
        if count:
            raise CommandError(summary)
        self.stdout.write(summary)
