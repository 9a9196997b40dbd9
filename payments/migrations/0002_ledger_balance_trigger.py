"""PostgreSQL: the ledger balances at commit, and entries are append-only.

A deferred constraint trigger re-checks, when the transaction commits, that the entries of
every ledger transaction touched sum to zero per currency; so even a write that bypasses
``ledger_transaction_post`` cannot commit an unbalanced transaction. Other databases (SQLite
in development) rely on the service's validation and the ``ledger_is_balanced`` selector.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION payments_ledger_check_balanced() RETURNS trigger AS $$
DECLARE
    txn_id bigint;
    bad record;
BEGIN
    IF TG_OP = 'DELETE' THEN txn_id := OLD.transaction_id; ELSE txn_id := NEW.transaction_id; END IF;
    SELECT currency, SUM(amount) AS total INTO bad
      FROM payments_ledgerentry WHERE transaction_id = txn_id
      GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % is off by %',
            txn_id, bad.currency, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER payments_ledger_entry_balanced
    AFTER INSERT OR DELETE ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_check_balanced();

CREATE OR REPLACE FUNCTION payments_ledger_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only; entry % cannot be changed', OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER payments_ledger_entry_no_update
    BEFORE UPDATE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_entry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS payments_ledger_entry_no_update ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledger_entry_append_only();
DROP TRIGGER IF EXISTS payments_ledger_entry_balanced ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledger_check_balanced();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
