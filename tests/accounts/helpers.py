"""Constants shared by the accounts tests."""

PASSWORD = "correct-horse-battery-9"
