"""Exact money: scaled 64-bit integers and half-up rounding (rule book §1).

Every amount and rate crosses into the engine as an integer count of a fixed unit, so that
no binary floating point ever touches money. The units are listed in ``docs/decisions.md``.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENTS = 100            # money
RVU_SCALE = 100        # RVUs have 2 decimals
GPCI_SCALE = 1_000     # GPCIs have 3 decimals
CF_SCALE = 10_000      # conversion factors, PFS and anesthesia, up to 4 decimals
ASP_SCALE = 1_000      # ASP payment limits have 3 decimals
FRACTION_SCALE = 10_000  # contract fractions: 0.4725 = 47.25 %
UNIT_TENTHS = 10       # anesthesia base and time units, 1 decimal


def to_scaled(value: str | int | Decimal, scale: int, what: str = "value") -> int:
    """Exact integer count of ``1/scale`` units in ``value``.

    Raises ``ValueError`` naming ``what`` when the value is not a number or has more
    decimals than the unit holds: money and rates are never rounded on the way in.

    Examples
    --------
    >>> to_scaled("32.3465", CF_SCALE)
    323465
    >>> to_scaled("1", GPCI_SCALE)
    1000
    """
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    scaled = d * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what}: {value!r} has more decimals than 1/{scale} allows")
    return int(scaled)


def round_half_up(value: Decimal, places: int = 2) -> Decimal:
    """Round a Decimal half-up (0.005 -> 0.01), the only rounding the rule book allows.

    >>> round_half_up(Decimal("148.625"))
    Decimal('148.63')
    """
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def from_scaled(value: int, scale: int) -> Decimal:
    """The exact Decimal of ``value / scale``.

    >>> from_scaled(9989, CENTS)
    Decimal('99.89')
    """
    return Decimal(value) / Decimal(scale)
