"""Writes of the payments app, one module per area: ledger, quotes, orders, payouts,
refunds, connect (provider onboarding) and webhooks."""
