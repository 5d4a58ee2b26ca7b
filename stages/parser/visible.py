"""The product a person sees on a product page, read from the visible HTML when markup says nothing or too little.

Used by ``extract.py`` on pages whose rules and structured data give at most
one product (a detail page, or no product at all). Deterministic heuristics,
no learning:

1. Title: the first ``h1`` that is not the shop's name, else og:title, else
   ``<title>`` without the shop's name.
2. Price: every short text with a currency mark and an amount is a candidate,
   scored by its distance (in document order) to the title and to the buy
   button, the price words in its and its ancestors' class/id ("price",
   "prix", "preis", "cena", ...), emphasis, and penalised for what a current
   price is not: struck through (``<s>``, ``<del>``, line-through), after a
   "was"/"RRP"/"statt" word, per unit ("/ kg"), instalments ("4 x"), a
   shipping cost, inside related products, header, footer or navigation.
   Struck and "was" candidates near the title give the regular price.
3. Currency: the price's own mark, with the page's language and domain to
   settle shared marks ("$", "kr").
4. Availability: ``itemprop=availability``, a stock element's words, else the
   buy button (present: in stock, disabled: out of stock).
5. SKU, GTIN, MPN and brand where the page labels them ("SKU:", "Art.-Nr.",
   "品番", "EAN", "Marke:"), and the main image.

A page is a product page only when a title and a price candidate near it or
near a buy button are found, and it does not look like a listing (a buy button
per card, or many prices and no buy button, with no price standing out);
anything else gives no product. Each field says
how it was found (``ExtractedProduct.sources``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .availability import normalise_availability
from .currencies import ISO_CODES, iso_currency
from .labels import BRAND, GTIN, MPN, SKU, LabelPattern
from .links import LinkResolver
from .locale_currency import currency_hint
from .prices import NO_PRICE, Price
from .product import ExtractedProduct

_MARK = (r"R\$|US\$|C\$|CA\$|A\$|AU\$|NZ\$|HK\$|S\$|MX\$|[$€£¥₹₽₩₪฿₺₫₱₴₦￥]|円|zł|Kč|(?<![A-Za-z])kr\.?(?![a-z])"
         r"|(?<![A-Za-z])Ft(?![a-z])|(?<![A-Za-z])lei(?![a-z])|руб\.?|грн\.?|(?<![A-Za-z])Rs\.?|(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])")
_AMOUNT = r"[0-9]{1,3}(?:[.,'\u00a0\u202f ][0-9]{3})+(?:[.,][0-9]{1,2})?|[0-9]+(?:[.,][0-9]{1,2})?"
_PRICE_TEXT = re.compile(rf"(?P<before>{_MARK})\s?(?P<a>{_AMOUNT})|(?P<b>{_AMOUNT})\s?(?P<after>{_MARK})")
_DIGIT = re.compile(r"[0-9]")
_AMOUNT_PIECE = re.compile(r"[\s0-9.,'\u00a0\u202f]+")
# A cheap first test for _MARK: most texts with digits hold no currency mark at all.
_ANY_MARK = re.compile(r"[$€£¥₹₽₩₪฿₺₫₱₴₦￥円]|zł|Kč|kr|Ft|lei|руб|грн|Rs|[A-Z]{3}")
_DECIMAL_PART = re.compile(r"^(.*)[.,]([0-9]{1,2})$")

_SKIPPED_TEXT_PARENTS = frozenset({"script", "style", "noscript", "template", "option", "title", "textarea"})
_STRUCK_TAGS = frozenset({"s", "del", "strike"})
_OUTSIDE_TAGS = frozenset({"header", "footer", "nav", "aside"})
_EMPHASIS_TAGS = frozenset({"strong", "b", "h2", "h3", "h4", "ins"})

# Class / id / data-testid words, in the main shop languages. A word starts where no lower-case letter
# precedes it ("oldPrice", "price--old", not "bold"); the current / regular words also end there or at "price".
_PRICE_WORDS = re.compile(r"(?<![a-z])(?i:price|prix|preis|precio|prezzo|prijs|cena|preco|preço|pris|цена|amount|"
                          r"money|cost|betrag)")
_CURRENT_WORDS = re.compile(r"(?<![a-z])(?i:sale|special|current|final|now|actual|offer|promo|selling|important)"
                            r"(?=[^a-z]|price|$)")
_REGULAR_WORDS = re.compile(r"(?<![a-z])(?i:old|was|regular|compare|list|strike(?:through)?|before|original|msrp|"
                            r"rrp|uvp|crossed|retail)(?=[^a-z]|price|$)")
_ELSEWHERE_WORDS = re.compile(
    r"(?<![a-z])(?i:related|recommend|upsell|up-sell|cross-sell|similar|also|recent|carousel|card|tile|grid|"
    r"teaser|minicart|mini-cart|cart-link|announcement|topbar|promo-bar|banner|shipping|delivery|install|klarna|"
    r"afterpay|unit|per-|base-price|points|save|saving|discount|badge|footer|header|menu)"
)
_WAS_BEFORE = re.compile(
    r"(?:was|statt|au lieu de|rrp|m\.?r\.?p\.?|msrp|uvp|antes|reg\.|ord\. ?pris|før|původně|старая цена|通常価格|"
    r"listino|regularna|\bde\b|\bvan\b|vorher|list price|compare at|save|spar|économisez|ahorra|risparmi)\s*:?\s*$",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"^\s*\)?\s*(?:/|per\b|pr\.|je\b|pro\b|par\b)\s*(?:[0-9]+\s*)?"
    r"(?:kg|g|l|ml|cl|oz|lb|ea|st|stk|ks|szt|un|ud|unit|stuck|stück|шт|100|m|m2|m²|count|item|piece|mo|month)",
    re.IGNORECASE,
)
# Instalments ("4 x"), added costs ("+"), savings ("-") and a range's upper bound ("10 € – 20 €").
_INSTALMENT_BEFORE = re.compile(r"(?:[0-9]+\s*[x×]|\+|-|−|–|—|\bor|\boder|\bou|\bof)\s*$", re.IGNORECASE)
_FREE_TEXT_AROUND = 14  # characters of other text an element may hold around its price

_BUY_WORDS = re.compile(
    r"add[ -]?to[ -]?(?:cart|bag|basket)|addtocart|add_to_cart|buy|comprar|kaufen|warenkorb|panier|carrito|"
    r"carrello|winkelwagen|koszyk|kurv|varukorg|košík|корзин|カート|購入|acheter|aggiungi|añadir|dodaj",
    re.IGNORECASE,
)
_STOCK_WORDS = re.compile(r"stock|availab|inventory|lager|dispon|voorraad|nalich|lieferbar|quantity", re.IGNORECASE)
_TITLE_SEPARATORS = re.compile(r"\s+[|–—:·»-]\s+")
_CURRENCY_HOW = "the price's mark; shared marks settled by the page's language and domain"
# Document-order distance over which nearness to the title still counts.
_NEAR_NODES = 160
# A page with this many buy buttons, or with no buy button and this many prices, is a listing.
_LISTING_BUY_BUTTONS = 3
_LISTING_PRICES = 6
# How much higher than every other price a product page's price scores.
_STANDING_OUT = 1.0


class _Candidate(NamedTuple):
    score: float
    position: int
    price: Price
    how: str
    struck: bool


class _Page(NamedTuple):
    """What the scan of one page found: the title, the buy control and the price candidates (struck ones too)."""

    title: str | None
    title_how: str
    buy: LexborNode | None
    buy_buttons: int
    candidates: list[_Candidate]


class VisiblePage(NamedTuple):
    """The product the page shows (None if it does not look like one product's page), and every amount
    it shows as a current price anywhere (to tell whether a markup price is one the page shows)."""

    product: ExtractedProduct | None
    shown: frozenset[Decimal]
    score: float = 0.0  # the price's score: how sure the page is about it


def visible_product(tree: LexborHTMLParser, links: LinkResolver) -> VisiblePage:
    """Read the product the page shows; see the module docstring."""
    body = tree.body
    if body is None:
        return VisiblePage(None, frozenset())
    hint = currency_hint(_lang(tree), links.base.host or "")
    page = _scan(tree, body, hint)
    current = [c for c in page.candidates if not c.struck]
    shown = frozenset(Decimal(c.price.amount or "0") for c in current)
    if page.title is None or not current:
        return VisiblePage(None, shown)
    best = max(current, key=lambda c: (c.score, -c.position))
    if best.score < 1 or _looks_like_a_listing(page, current, best):
        return VisiblePage(None, shown)
    # A regular price is higher than the sale price, and shown beside it, not in a related product's card.
    current_amount = Decimal(best.price.amount or "0")
    struck = [c for c in page.candidates
              if c.struck and c.score >= 0 and Decimal(c.price.amount or "0") > current_amount
              and abs(c.position - best.position) < _NEAR_NODES // 4]
    regular = min(struck, key=lambda c: abs(c.position - best.position)) if struck else None
    availability, availability_how = _availability(tree, page.buy)
    text = body.text(separator=" ")
    sku, sku_how = _sku(tree, text)
    gtin, gtin_how = _labelled(GTIN, text)
    mpn, mpn_how = _labelled(MPN, text)
    brand, brand_how = _labelled(BRAND, text)
    image, image_how = _image(tree, links)
    sources = [("title", page.title_how), ("price", best.how), ("currency", _CURRENCY_HOW),
               ("availability", availability_how), ("sku", sku_how), ("gtin", gtin_how), ("mpn", mpn_how),
               ("brand", brand_how), ("image", image_how)]
    if regular is not None:
        sources.append(("regular_price", regular.how))
    return VisiblePage(ExtractedProduct(
        title=page.title,
        price=best.price,
        url=None,
        image=image,
        sku=sku,
        availability=availability,
        method="visible",
        regular_price=regular.price if regular is not None else NO_PRICE,
        brand=brand,
        gtin=gtin,
        mpn=mpn,
        images=(image,) if image else (),
        sources=tuple((name, how) for name, how in sources if how),
    ), shown, best.score)


def _looks_like_a_listing(page: _Page, current: list[_Candidate], best: _Candidate) -> bool:
    """A category page without markup: a buy button per card, or many prices and no buy button at all,
    and no price that stands out from the others (a product page's related cards score lower)."""
    many = page.buy_buttons >= _LISTING_BUY_BUTTONS or (page.buy_buttons == 0 and len(current) >= _LISTING_PRICES)
    runner_up = max((c.score for c in current if c is not best), default=float("-inf"))
    return many and runner_up > best.score - _STANDING_OUT


def _lang(tree: LexborHTMLParser) -> str:
    html = tree.css_first("html")
    return (html.attrs.get("lang") or "") if html is not None else ""


def _scan(tree: LexborHTMLParser, body: LexborNode, hint: str | None) -> _Page:
    title, title_node, title_how = _title(tree)
    buttons = _buy_buttons(tree)
    buy = buttons[0] if buttons else None
    title_id = title_node.mem_id if title_node is not None else None
    buy_id = buy.mem_id if buy is not None else None
    title_position = buy_position = None
    found: list[tuple[int, LexborNode, re.Match[str]]] = []
    seen: set[int] = set()
    position = 0
    for node in body.traverse(include_text=True):
        position += 1
        if node.tag != "-text":
            mem_id = node.mem_id
            if mem_id == title_id:
                title_position = position
            elif mem_id == buy_id:
                buy_position = position
            continue
        text = node.text_content
        if not text or _DIGIT.search(text) is None:
            continue
        parent = node.parent
        if parent is None or parent.tag in _SKIPPED_TEXT_PARENTS:
            continue
        element, match = _price_element(parent, text)
        if element is None or match is None or element.mem_id in seen:
            continue
        seen.add(element.mem_id)
        found.append((position, element, match))
    anchors = [p for p in (title_position, buy_position) if p is not None]
    marks: dict[int, _Marks] = {}
    candidates = []
    for position, element, match in found:
        if any(abs(position - anchor) <= _NEAR_NODES for anchor in anchors):
            candidate = _candidate(position, element, match, hint, title_position, anchors, marks)
        else:
            # Too far to be the price; scored no further, but an amount the page shows.
            candidate = _Candidate(score=float("-inf"), position=position, how="far from the title",
                                   price=_with_superscript_cents(_price(match, hint), element), struck=False)
        if candidate is not None:
            candidates.append(candidate)
    return _Page(title, title_how, buy, len(buttons), candidates)


def _price_element(element: LexborNode, own_text: str) -> tuple[LexborNode | None, re.Match[str] | None]:
    """The smallest element (the text's parent or one of its two nearest ancestors) whose text is a price.

    Ancestors are only tried for a text that is a bare piece of an amount ("19", "99"): a price split over
    elements ("<span>$</span><span>19</span>"); a count or a sentence with digits never becomes one.
    """
    levels = 3 if _AMOUNT_PIECE.fullmatch(own_text) else 1
    for _ in range(levels):
        text = element.text()
        if len(text) > 80:
            return None, None
        match = next((m for m in _PRICE_TEXT.finditer(text) if _valid_mark(m)), None) \
            if _ANY_MARK.search(text) is not None else None
        if match is not None:
            if len(text.strip()) - len(match.group(0)) > _FREE_TEXT_AROUND:
                return None, None
            return element, match
        parent = element.parent
        if parent is None or parent.tag == "body":
            return None, None
        element = parent
    return None, None


def _valid_mark(match: re.Match[str]) -> bool:
    mark = match["before"] or match["after"]
    return not (len(mark) == 3 and mark.isalpha() and mark.isupper() and mark not in ISO_CODES)


class _Marks(NamedTuple):
    """What one element's tag, style and class / id words say about a price inside it."""

    struck: bool
    outside: bool
    emphasis: bool
    hidden: bool
    price: bool
    current: bool
    regular: bool
    elsewhere: bool


def _marks(node: LexborNode, cache: dict[int, _Marks]) -> _Marks:
    """The node's marks, computed once per page: a listing's cards share their ancestors."""
    found = cache.get(node.mem_id)
    if found is not None:
        return found
    attrs = node.attrs
    tag = node.tag or ""
    names = " ".join(value for key in ("class", "id", "data-testid", "itemprop") if (value := attrs.get(key)))
    found = _Marks(
        struck=tag in _STRUCK_TAGS or "line-through" in (attrs.get("style") or ""),
        outside=tag in _OUTSIDE_TAGS,
        emphasis=tag in _EMPHASIS_TAGS,
        hidden=attrs.get("aria-hidden") == "true",
        price=bool(names) and _PRICE_WORDS.search(names) is not None,
        current=bool(names) and _CURRENT_WORDS.search(names) is not None,
        regular=bool(names) and _REGULAR_WORDS.search(names) is not None,
        elsewhere=bool(names) and _ELSEWHERE_WORDS.search(names) is not None,
    )
    cache[node.mem_id] = found
    return found


def _candidate(position: int, element: LexborNode, match: re.Match[str], hint: str | None,
               title_position: int | None, anchors: list[int], cache: dict[int, _Marks]) -> _Candidate | None:
    text = element.text()
    before_text, after_text = _context(element, text, match)
    if _UNIT_AFTER.match(after_text) or _INSTALMENT_BEFORE.search(before_text):
        return None
    struck = bool(_WAS_BEFORE.search(before_text))
    score = 0.0
    node: LexborNode | None = element
    for depth in range(8):
        if node is None or node.tag in ("body", "html"):
            break
        marks = _marks(node, cache)
        if marks.hidden:
            return None
        struck = struck or marks.struck or (marks.regular and depth < 2)
        weight = 1.0 if depth < 4 else 0.5
        score += (-6 * marks.outside + 0.5 * (marks.emphasis and depth < 3) + weight * (
            1.5 * marks.price + 1 * marks.current - 2 * marks.regular - 3 * marks.elsewhere))
        node = node.parent
    score += 4 * max(0.0, 1 - min(abs(position - anchor) for anchor in anchors) / _NEAR_NODES)
    if title_position is not None and position < title_position:
        score -= 1
    price = _with_superscript_cents(_price(match, hint), element)
    how = f"{element.tag}{_first_class(element)} at node {position} (score {score:.1f})"
    return _Candidate(score=score, position=position, price=price, how=how, struck=struck)


def _context(element: LexborNode, text: str, match: re.Match[str]) -> tuple[str, str]:
    """The text before and after the price: within the element, else within the nearest of its three closest
    ancestors whose text is longer (a "Was:" label often sits beside the price's wrapper, not the price)."""
    before, after = text[:match.start()], text[match.end():]
    node = element.parent
    for _ in range(3):
        if node is None or len(before.strip()) >= 2 or after.strip():
            break
        whole = node.text()
        if len(whole) > 200:
            break
        at = whole.find(text)
        if at >= 0 and len(whole) > len(text):
            before = whole[:at] + before
            after = after + whole[at + len(text):]
            break
        node = node.parent
    return before[-30:], after[:30]


def _price(match: re.Match[str], hint: str | None) -> Price:
    digits = (match["a"] or match["b"]).replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("'", "")
    decimal = _DECIMAL_PART.match(digits)
    if decimal is not None:
        amount = decimal[1].replace(".", "").replace(",", "") + "." + decimal[2]
    else:
        amount = digits.replace(".", "").replace(",", "")
    amount = amount.lstrip("0") or "0"
    if amount.startswith("."):
        amount = "0" + amount
    mark = match["before"] or match["after"]
    return Price(amount=amount, currency=iso_currency(mark, hint), raw=match.group(0), ok=True)


def _with_superscript_cents(price: Price, element: LexborNode) -> Price:
    """"$19<sup>99</sup>" is 19.99, not 1999: a whole amount whose last two digits are a superscript."""
    amount = price.amount or ""
    if "." in amount or len(amount) < 3:
        return price
    sup = next((child for child in element.iter() if child.tag == "sup"), None)
    cents = sup.text().strip() if sup is not None else ""
    if len(cents) == 2 and cents.isdigit() and amount.endswith(cents):
        return price._replace(amount=f"{amount[:-2]}.{cents}")
    return price


def _first_class(element: LexborNode) -> str:
    classes = (element.attrs.get("class") or "").split()
    if element.attrs.get("id"):
        return f"#{element.attrs['id']}"
    return f".{classes[0]}" if classes else ""


def _title(tree: LexborHTMLParser) -> tuple[str | None, LexborNode | None, str]:
    """The product's name, the node it came from (for distances) and how it was found."""
    shop = _shop_name(tree)
    for heading in tree.css("h1"):
        text = " ".join(heading.text().split())
        if text and (shop is None or text.casefold() != shop.casefold()) and not _inside(heading, _OUTSIDE_TAGS):
            return text, heading, "h1"
    for heading in tree.css("h2"):
        text = " ".join(heading.text().split())
        if text and _document_title(tree, shop) == text:
            return text, heading, "h2 equal to <title> without the shop name"
    og = tree.css_first('meta[property="og:title" i]')
    if og is not None and (content := " ".join((og.attrs.get("content") or "").split())):
        return content, None, "og:title"
    document_title = _document_title(tree, shop)
    return (document_title, None, "<title> without the shop name") if document_title else (None, None, "")


def _shop_name(tree: LexborHTMLParser) -> str | None:
    site = tree.css_first('meta[property="og:site_name" i]')
    if site is not None and site.attrs.get("content"):
        return " ".join((site.attrs.get("content") or "").split())
    title = tree.css_first("title")
    parts = _TITLE_SEPARATORS.split(title.text().strip()) if title is not None else []
    return parts[-1] if len(parts) > 1 else None


def _document_title(tree: LexborHTMLParser, shop: str | None) -> str | None:
    title = tree.css_first("title")
    if title is None:
        return None
    parts = [part for part in _TITLE_SEPARATORS.split(" ".join(title.text().split())) if part]
    if shop is not None:
        parts = [part for part in parts if part.casefold() != shop.casefold()] or parts
    return parts[0] if parts else None


def _inside(node: LexborNode, tags: frozenset[str]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _buy_buttons(tree: LexborHTMLParser) -> list[LexborNode]:
    """Add-to-cart controls (buttons, submit inputs, button-like links with a buying word or name), up to
    ``_LISTING_BUY_BUTTONS``: a product page has one, a listing one per card."""
    found = []
    for node in tree.css('button, input[type="submit" i], input[type="button" i], a[class*="btn" i], '
                         'a[class*="button" i], a[class*="call-to-action" i]'):
        attrs = node.attrs
        label = " ".join(value for key in ("id", "name", "class", "value", "aria-label")
                         if (value := attrs.get(key)))
        if (_BUY_WORDS.search(label) or _BUY_WORDS.search(node.text())) and not _inside(node, _OUTSIDE_TAGS):
            found.append(node)
            if len(found) == _LISTING_BUY_BUTTONS:
                break
    return found


def _availability(tree: LexborHTMLParser, buy: LexborNode | None) -> tuple[str | None, str]:
    link = tree.css_first('[itemprop="availability" i]')
    if link is not None:
        value = normalise_availability(link.attrs.get("href") or link.attrs.get("content") or link.text())
        if value is not None:
            return value, '[itemprop="availability"]'
    for node in tree.css('[class*="stock" i], [id*="stock" i], [class*="availab" i], [id*="availab" i], '
                         '[class*="inventory" i], [class*="lager" i], [class*="dispon" i]'):
        text = node.text()
        if len(text) < 80 and (value := normalise_availability(text)) is not None:
            return value, f"stock text in {node.tag}{_first_class(node)}"
    if buy is not None:
        if "disabled" in buy.attrs or normalise_availability(buy.text() or buy.attrs.get("value")) == "OutOfStock":
            return "OutOfStock", "buy button disabled"
        return "InStock", "buy button present"
    return None, ""


def _sku(tree: LexborHTMLParser, text: str) -> tuple[str | None, str]:
    node = tree.css_first('[itemprop="sku" i]')
    if node is not None and (marked := (node.attrs.get("content") or node.text()).strip()):
        return marked, '[itemprop="sku"]'
    value, how = _labelled(SKU, text)
    return (value, how) if value is not None and any(ch.isdigit() for ch in value) else (None, "")


def _labelled(label: LabelPattern, text: str) -> tuple[str | None, str]:
    """The value a label in the page's text names ("SKU: AB-1"), and the label."""
    match = label.search(text)
    if match is None:
        return None, ""
    return match["value"], f'label "{text[match.start():match.start("value")].strip()}"'


def _image(tree: LexborHTMLParser, links: LinkResolver) -> tuple[str | None, str]:
    og = tree.css_first('meta[property="og:image" i]')
    if og is not None and (image := links.resolve(og.attrs.get("content"))):
        return image, "og:image"
    for img in tree.css("img[src]"):
        src = img.attrs.get("src") or ""
        if "logo" not in src.lower() and "icon" not in src.lower() and not _inside(img, _OUTSIDE_TAGS):
            return links.resolve(src), "first content img"
    return None, ""
