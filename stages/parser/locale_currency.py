"""The currency a page most likely means by a shared mark ("$", "kr", "¥") or by an amount without one.

From the page's language tag (its region first: "en-CA" is CAD, "pt-BR" is
BRL; then the language alone: "sv" is SEK) and, failing that, from its
domain's country code. English and Spanish alone say nothing: too many
countries write them.
"""

from __future__ import annotations

_REGIONS = {
    "US": "USD", "GB": "GBP", "UK": "GBP", "CA": "CAD", "AU": "AUD", "NZ": "NZD", "IN": "INR", "BR": "BRL",
    "MX": "MXN", "AR": "ARS", "CL": "CLP", "CO": "COP", "CH": "CHF", "SE": "SEK", "DK": "DKK", "NO": "NOK",
    "PL": "PLN", "CZ": "CZK", "JP": "JPY", "RU": "RUB", "UA": "UAH", "HU": "HUF", "RO": "RON", "BG": "BGN",
    "TR": "TRY", "KR": "KRW", "CN": "CNY", "HK": "HKD", "TW": "TWD", "SG": "SGD", "ZA": "ZAR", "IL": "ILS",
    "TH": "THB", "VN": "VND", "ID": "IDR", "MY": "MYR", "PH": "PHP", "AE": "AED", "SA": "SAR",
    "DE": "EUR", "AT": "EUR", "FR": "EUR", "BE": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "PT": "EUR",
    "FI": "EUR", "IE": "EUR", "GR": "EUR", "SK": "EUR", "SI": "EUR", "LU": "EUR", "EE": "EUR", "LV": "EUR",
    "LT": "EUR", "HR": "EUR",
}
_LANGUAGES = {
    "ja": "JPY", "sv": "SEK", "da": "DKK", "nb": "NOK", "nn": "NOK", "no": "NOK", "pl": "PLN", "cs": "CZK",
    "ru": "RUB", "uk": "UAH", "hu": "HUF", "ro": "RON", "bg": "BGN", "tr": "TRY", "ko": "KRW", "zh": "CNY",
    "th": "THB", "vi": "VND", "he": "ILS", "hi": "INR", "de": "EUR", "fr": "EUR", "it": "EUR", "nl": "EUR",
    "fi": "EUR", "el": "EUR", "sk": "EUR", "sl": "EUR", "et": "EUR", "lv": "EUR", "lt": "EUR", "pt": "EUR",
}
_GENERIC_TLDS = frozenset({"com", "net", "org", "shop", "store", "io", "co", "eu", "info", "biz"})


def currency_hint(lang: str, host: str) -> str | None:
    """An ISO 4217 code for a page in language `lang` (e.g. "de-CH") served from `host`, or None."""
    language, _, region = lang.strip().replace("_", "-").partition("-")
    if region and (code := _REGIONS.get(region.split("-")[0].upper())):
        return code
    labels = host.lower().rstrip(".").rsplit(".", 2)
    country = labels[-1] if labels else ""
    if country not in _GENERIC_TLDS and (code := _REGIONS.get(country.upper())):
        return code
    return _LANGUAGES.get(language.lower())
