"""Map the currency marks found in price text to ISO 4217 codes.

price-parser reports the currency as written ("$", "zł", "EUR", "руб."), but
records need a code a database can group by. Some marks name one currency
("R$" is always BRL); others are shared ("$", "kr"), and only the site knows
which one it means, so those take the caller's hint when the hint is one of
their candidates and fall back to their most common meaning (or to nothing,
when there is none) otherwise.
"""

from __future__ import annotations

# Active ISO 4217 codes (plus CUC and SLL, still printed on older pages).
ISO_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK
    DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG
    HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
    RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG
    """.split()
)

# Marks that name exactly one currency.
_SYMBOLS: dict[str, str] = {
    "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
    "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "NT$": "TWD", "MX$": "MXN",
    "R$": "BRL", "€": "EUR", "euro": "EUR", "zł": "PLN", "Zł": "PLN",
    "₹": "INR", "₽": "RUB", "руб": "RUB", "руб.": "RUB", "р.": "RUB",
    "₴": "UAH", "грн": "UAH", "грн.": "UAH", "Kč": "CZK", "₩": "KRW",
    "₪": "ILS", "฿": "THB", "₺": "TRY", "₫": "VND", "₱": "PHP", "₦": "NGN",
    "Ft": "HUF", "лв": "BGN", "лв.": "BGN", "Rp": "IDR", "RM": "MYR",
    "CN¥": "CNY", "元": "CNY", "₸": "KZT", "₾": "GEL", "lei": "RON",
    "Lei": "RON", "Fr.": "CHF", "円": "JPY",
}

_DOLLARS = frozenset(
    "USD CAD AUD NZD SGD HKD TWD MXN ARS CLP COP UYU BSD BBD BZD BMD BND FJD "
    "GYD JMD KYD LRD NAD SBD SRD TTD XCD CUP DOP".split()
)
_YEN = frozenset({"JPY", "CNY"})
_POUNDS = frozenset({"GBP", "EGP", "LBP", "SYP", "FKP", "GIP", "SHP"})
_KRONA = frozenset({"SEK", "NOK", "DKK", "ISK"})
_RUPEES = frozenset({"INR", "PKR", "LKR", "NPR", "MUR", "SCR"})

# Shared marks: (meaning without a usable hint, the currencies the mark may stand for).
_AMBIGUOUS: dict[str, tuple[str | None, frozenset[str]]] = {
    "$": ("USD", _DOLLARS),
    "¥": ("JPY", _YEN),
    "￥": ("JPY", _YEN),
    "£": ("GBP", _POUNDS),
    "kr": (None, _KRONA),
    "kr.": (None, _KRONA),
    "Kr": (None, _KRONA),
    "Rs": (None, _RUPEES),
    "Rs.": (None, _RUPEES),
    "₨": (None, _RUPEES),
}


def iso_currency(mark: str | None, hint: str | None = None) -> str | None:
    """Return the ISO 4217 code for a currency mark, using `hint` (an ISO code) to settle shared marks.

    With no mark, the hint itself is the answer (a site's declared currency);
    an unknown mark also yields the hint, since the site knows better than a guess.
    """
    hint = hint.upper() if hint and hint.upper() in ISO_CODES else None
    if not mark:
        return hint
    mark = mark.strip()
    code = _SYMBOLS.get(mark)
    if code is not None:
        return code
    if mark.upper() in ISO_CODES:
        return mark.upper()
    shared = _AMBIGUOUS.get(mark)
    if shared is not None:
        default, candidates = shared
        return hint if hint in candidates else default
    return hint
