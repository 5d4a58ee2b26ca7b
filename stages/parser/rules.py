"""Per-site extraction rules, loaded from a TOML file and refused early if anything in it is wrong.

A rules file is a list of ``[[site]]`` tables; see ``schemas/rules.schema.json``
for every key. Each field is a *field spec*: a CSS selector (read the matched
element's text), ``selector@attr`` (read an attribute of the match), or
``@attr`` (read an attribute of the item element itself). ``link``,
``next_page`` and ``follow`` read ``href`` and ``image`` reads ``src`` unless
the spec names another attribute.

Everything is checked at load time (TOML syntax, the JSON Schema, every CSS
selector against selectolax) so that a typo stops the parser at start-up or
on reload, with a message naming the file, the rule and the problem, instead
of silently extracting nothing from every page.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path
from typing import Any

import jsonschema_rs
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from ..core.errors import ConfigError
from ..core.schemas import json_path, validator
from .currencies import ISO_CODES

# "selector@attr": the attribute name must be a plain name, so an "@" inside a
# quoted attribute value (a[href^="mailto:x@y"]) is not mistaken for one.
_ATTR_SUFFIX = re.compile(r"(?P<css>.*?)@(?P<attr>[A-Za-z_:][-A-Za-z0-9_:.]*)")

# Fields read inside each item, and the attribute each reads when its spec names none (None: the text).
_ITEM_FIELDS: dict[str, str | None] = {
    "title": None,
    "price": None,
    "link": "href",
    "image": "src",
    "sku": None,
    "availability": None,
}

# Enough of TOML's shape to say which rule a syntax error is in.
_TOML_ERROR_LINE = re.compile(r"at line (?P<line>[0-9]+)")
_SITE_HEADER = re.compile(r"\s*\[\[\s*site\s*\]\]")
_NAME_LINE = re.compile(r"""\s*name\s*=\s*["'](?P<name>[^"']*)["']""")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where one value lives: `css` relative to the item (None: the item itself), `attr` (None: the text)."""

    css: str | None
    attr: str | None


@dataclass(frozen=True, slots=True)
class SiteRules:
    """One ``[[site]]`` table, with selectors already checked."""

    name: str
    hosts: tuple[str, ...]
    item: str | None
    title: FieldSpec | None
    price: FieldSpec | None
    link: FieldSpec | None
    image: FieldSpec | None
    sku: FieldSpec | None
    availability: FieldSpec | None
    currency: str | None
    next_page: FieldSpec | None
    follow: tuple[FieldSpec, ...]
    follow_offsite: bool
    host_pattern: re.Pattern[str] = field(repr=False, compare=False)
    sitemap_follow: tuple[re.Pattern[str], ...] = ()

    def matches_host(self, host: str) -> bool:
        """Whether a host (any case, with or without a port) is one of this site's."""
        return self.host_pattern.fullmatch(_bare_host(host)) is not None

    def follows_sitemap_url(self, url: str) -> bool:
        """Whether a URL a sitemap lists is fetched: it matches a ``sitemap_follow`` pattern, or there are none."""
        return not self.sitemap_follow or any(pattern.search(url) for pattern in self.sitemap_follow)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All rules of one file; `version` is a short hash of its bytes, recorded with every product."""

    path: Path
    version: str
    sites: tuple[SiteRules, ...]

    def for_host(self, host: str) -> SiteRules | None:
        """The first site whose host patterns match `host` (any case, port ignored), or None."""
        return next((site for site in self.sites if site.matches_host(host)), None)


def load_rules(path: str | Path) -> RuleSet:
    """Read, validate and compile a rules file; raise ConfigError naming the file, rule and problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"rules file {path}: cannot read it: {error.strerror}") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"rules file {path}: not UTF-8 (byte {error.start})") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"rules file {path}: {_toml_rule(text, str(error))}invalid TOML: {error}") from error
    try:
        validator("rules").validate(document)
    except jsonschema_rs.ValidationError as error:
        raise ConfigError(f"rules file {path}: {_describe_violation(document, error)}") from error
    sites = tuple(_compile_site(path, index, table) for index, table in enumerate(document["site"]))
    version = blake2b(data, digest_size=6).hexdigest()
    return RuleSet(path=path, version=version, sites=sites)


def _toml_rule(text: str, message: str) -> str:
    """"rule #i (name): " for the [[site]] table a TOML error's line falls in, or "" if it precedes them all.

    tomllib gives no structured position on Python 3.11, only "(at line N, column M)" in its message.
    """
    line = _TOML_ERROR_LINE.search(message)
    if line is None:
        return ""
    before = text.splitlines()[: int(line["line"])]
    starts = [number for number, content in enumerate(before) if _SITE_HEADER.match(content)]
    if not starts:
        return ""
    name = next(filter(None, (_NAME_LINE.match(content) for content in before[starts[-1] :])), None)
    return f"rule #{len(starts) - 1} ({name['name'] if name else 'unnamed'}): "


def _describe_violation(document: dict[str, Any], error: jsonschema_rs.ValidationError) -> str:
    """Say which rule broke the schema and where, e.g. 'rule #2 (shop): site[2]: "hosts" is a required property'."""
    path = error.instance_path
    if len(path) >= 2 and path[0] == "site":
        index = int(path[1])
        table = document["site"][index]
        message = error.message
        if error.schema_path[-1:] == ["dependencies"]:
            message += f" when {', '.join(key for key in _ITEM_FIELDS if key in table)} is set"
        return f"rule #{index} ({_rule_name(table)}): {json_path(path)}: {message}"
    return f"top level: {error.message}"


def _rule_name(table: Any) -> str:
    """A rule's name for messages, even when the rule is too broken to have one."""
    if isinstance(table, dict):
        if isinstance(table.get("name"), str):
            return table["name"]
        hosts = table.get("hosts")
        if isinstance(hosts, list) and hosts and isinstance(hosts[0], str):
            return hosts[0]
    return "unnamed"


def _compile_site(path: Path, index: int, table: dict[str, Any]) -> SiteRules:
    """Turn one schema-valid ``[[site]]`` table into SiteRules, checking every selector and the currency."""
    where = f"rules file {path}: rule #{index} ({_rule_name(table)})"
    if "item" in table:
        _check_selector(table["item"], f"{where}: item")
    currency = table.get("currency")
    if currency is not None and currency not in ISO_CODES:
        raise ConfigError(f"{where}: currency {currency!r} is not an ISO 4217 code")
    item_fields = {
        key: _field_spec(where, key, table[key], default_attr) if key in table else None
        for key, default_attr in _ITEM_FIELDS.items()
    }
    hosts = tuple(host.lower() for host in table["hosts"])
    return SiteRules(
        name=table.get("name", hosts[0]),
        hosts=hosts,
        item=table.get("item"),
        currency=currency,
        next_page=_link_spec(where, "next_page", table["next_page"]) if "next_page" in table else None,
        follow=tuple(_link_spec(where, f"follow[{i}]", value) for i, value in enumerate(table.get("follow", ()))),
        follow_offsite=table.get("follow_offsite", False),
        host_pattern=re.compile("|".join(f"(?:{fnmatch.translate(host)})" for host in hosts)),
        sitemap_follow=tuple(_pattern(where, f"sitemap_follow[{i}]", value)
                             for i, value in enumerate(table.get("sitemap_follow", ()))),
        **item_fields,
    )


def _pattern(where: str, key: str, value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise ConfigError(f"{where}: {key} {value!r} is not a regular expression: {exc}") from exc


def _field_spec(where: str, key: str, value: str, default_attr: str | None) -> FieldSpec:
    spec = _parse_spec(value, default_attr)
    if spec.css is not None:
        _check_selector(spec.css, f"{where}: {key}")
    return spec


def _link_spec(where: str, key: str, value: str) -> FieldSpec:
    """A next_page / follow spec: these search the whole page, so "@attr" alone has no element to read."""
    spec = _field_spec(where, key, value, "href")
    if spec.css is None:
        raise ConfigError(f"{where}: {key} {value!r} needs a CSS selector before the @attribute")
    return spec


def _parse_spec(value: str, default_attr: str | None) -> FieldSpec:
    """Split "css@attr" / "@attr" / "css" into a FieldSpec."""
    value = value.strip()
    split = _ATTR_SUFFIX.fullmatch(value)
    if split is None:
        return FieldSpec(css=value, attr=default_attr)
    css = split["css"].strip()
    return FieldSpec(css=css or None, attr=split["attr"])


_PROBE = LexborHTMLParser("<p></p>")


def _check_selector(css: str, where: str) -> None:
    """Raise ConfigError if selectolax cannot parse `css`: it would otherwise fail on every page."""
    try:
        _PROBE.css(css)
    except SelectolaxError as error:
        raise ConfigError(f"{where}: selectolax rejects the CSS selector {css!r} ({error})") from error


def _bare_host(host: str) -> str:
    """Lower-case the host and drop a port, a trailing dot and IPv6 brackets."""
    host = host.lower()
    if host.startswith("["):
        return host[1 : host.find("]")]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")
