"""Reads of the payments app: ledger balances, orders and reports."""
