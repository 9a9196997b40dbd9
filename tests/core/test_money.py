"""core.money: the one place that parses and formats money (exact, no floats)."""

from fractions import Fraction

import pytest

from core.money import (
    MoneyParseError,
    exponent,
    format_exact,
    format_money,
    format_share,
    major_text,
    parse_major,
)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123456, "usd", "1,234.56 USD"),
        (-5, "usd", "-0.05 USD"),
        (1234, "jpy", "1,234 JPY"),
        (0, "EUR", "0.00 EUR"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


def test_exponents_follow_stripes_zero_decimal_list():
    assert (exponent("usd"), exponent("JPY"), exponent("krw")) == (2, 0, 0)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12", "usd", 1200), (" 12.5 ", "usd", 1250), ("0.05", "usd", 5), ("1200", "jpy", 1200)],
)
def test_parse_major(text, currency, minor):
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1.234", "usd", "Enter an amount such as 12 or 12.50 (at most 2 decimals)."),
        ("12.5", "jpy", "Enter an amount such as 12 (whole numbers only)."),
        ("-1", "usd", "Enter an amount such as 12 or 12.50"),
        ("1e3", "usd", "Enter an amount"),
        ("", "usd", "Enter an amount"),
        ("9" * 13, "usd", "Enter an amount"),
    ],
)
def test_bad_amounts_are_refused_with_a_sentence_for_a_person(text, currency, message):
    with pytest.raises(MoneyParseError) as caught:
        parse_major(text, currency)
    assert str(caught.value).startswith(message)


def test_exact_amounts_below_a_cent_show_two_more_decimals_and_mark_rounding():
    assert format_exact(Fraction(63, 2000), "usd") == "≈ 0.0003 USD"  # 0.0315 cents
    assert format_exact(Fraction(3617, 10), "usd") == "3.6170 USD"
    assert format_exact(Fraction(-1, 3), "usd") == "≈ -0.0033 USD"
    assert format_exact(Fraction(7, 2), "jpy") == "3.50 JPY"


def test_shares_are_percentages_and_tiny_ones_are_not_zero():
    assert format_share(Fraction(7, 16)) == "43.8 %"
    assert format_share(Fraction(1, 3)) == "33.3 %"
    assert format_share(Fraction(1, 100_000)) == "< 0.1 %"
    assert format_share(0) == "0.0 %"


def test_major_text_is_exact():
    assert major_text(1234, "usd") == "12.34"
    assert major_text(7, "jpy") == "7"
