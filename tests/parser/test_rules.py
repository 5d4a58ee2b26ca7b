"""Rules files: loaded into checked SiteRules, or refused with a message naming file, rule and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.errors import ConfigError
from stages.parser.rules import FieldSpec, load_rules

from . import FIXTURES

RULES = FIXTURES / "rules"


def test_a_valid_file_loads_every_site_with_its_field_specs() -> None:
    ruleset = load_rules(RULES / "shop.toml")
    shop, mixed, unnamed = ruleset.sites
    assert shop.name == "shop" and shop.item == "article.product-card"
    assert shop.title == FieldSpec(css="h3.title", attr=None)
    assert shop.link == FieldSpec(css="a.product-link", attr="href")
    assert shop.image == FieldSpec(css="img.product-image", attr="src")
    assert shop.sku == FieldSpec(css=None, attr="data-product-id")
    assert shop.next_page == FieldSpec(css="a.next", attr="href")
    assert shop.follow == (FieldSpec("a.category", "href"), FieldSpec("a.product-link", "href"))
    assert (shop.currency, shop.follow_offsite) == ("USD", False)
    assert mixed.image == FieldSpec(css="img.tile-img", attr="data-src")
    assert mixed.currency is None and mixed.next_page is None and mixed.follow == ()
    assert unnamed.name == "*.example.com"


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("shop.example.com", "shop"),
        ("SHOP.Example.COM:8443", "shop"),
        ("eu.shop.example.com", "shop"),  # first match wins over "*.example.com"
        ("mixed.example.net", "mixed"),
        ("other.example.com", "*.example.com"),
        ("example.com", None),  # glob semantics: "*.example.com" needs a subdomain
        ("example.org", None),
    ],
)
def test_for_host_returns_the_first_matching_site(host: str, site: str | None) -> None:
    found = load_rules(RULES / "shop.toml").for_host(host)
    assert (found.name if found else None) == site


def test_the_version_is_a_short_hash_of_the_file_content(tmp_path: Path) -> None:
    original = load_rules(RULES / "shop.toml").version
    copy = tmp_path / "copy.toml"
    copy.write_bytes((RULES / "shop.toml").read_bytes())
    assert load_rules(copy).version == original and len(original) == 12
    copy.write_bytes(copy.read_bytes() + b"\n# edited\n")
    assert load_rules(copy).version != original


def test_an_at_sign_inside_a_selector_is_not_an_attribute(tmp_path: Path) -> None:
    path = tmp_path / "at.toml"
    path.write_text('[[site]]\nhosts = ["a.example"]\nfollow = [\'a[href^="mailto:x@y"]\']\n')
    assert load_rules(path).sites[0].follow == (FieldSpec(css='a[href^="mailto:x@y"]', attr="href"),)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad_toml.toml", ["rule #0 (typo)", "invalid TOML", "line 4"]),
        ("missing_hosts.toml", ["rule #1 (second)", "site[1]", '"hosts"']),
        ("unknown_key.toml", ["rule #0 (typo-key)", "tittle"]),
        ("bad_selector.toml", ["rule #1 (bracket)", "price", "'span.price['", "selectolax rejects"]),
        ("bad_follow_selector.toml", ["rule #0 (c.example)", "follow[1]", "'a:no-such-pseudo'"]),
        ("bad_currency.toml", ["rule #0 (money)", "'XYZ'", "ISO 4217"]),
        ("wrong_type.toml", ["rule #0 (types)", "site[0].follow_offsite", "boolean"]),
        ("field_without_item.toml", ["rule #0 (no-item)", '"item" is a required property when title is set']),
        ("next_page_attr_only.toml", ["rule #0 (pager)", "next_page", "needs a CSS selector"]),
        ("empty.toml", ["top level", '"site"']),
    ],
)
def test_invalid_files_name_the_file_the_rule_and_the_problem(name: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules(RULES / name)
    message = str(caught.value)
    assert message.startswith(f"rules file {RULES / name}: ")
    for part in expected:
        assert part in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "nowhere.toml")


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes('[[site]]\nname = "café"\nhosts = ["a"]\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_rules(path)


def test_the_demo_shop_rules_load() -> None:
    rules = load_rules(Path(__file__).resolve().parents[2] / "stages" / "demoshop" / "rules.toml")
    assert rules.for_host("127.0.0.1") is rules.sites[0]


def test_sitemap_follow_patterns_are_searched_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sitemaps.toml"
    path.write_text('[[site]]\nhosts = ["shop.example"]\nsitemap_follow = ["/product/", "[.]html$"]\n')
    site = load_rules(path).sites[0]
    assert site.follows_sitemap_url("https://shop.example/product/1")
    assert site.follows_sitemap_url("https://shop.example/about.html")
    assert not site.follows_sitemap_url("https://shop.example/blog/1")
    path.write_text('[[site]]\nhosts = ["shop.example"]\n')
    assert load_rules(path).sites[0].follows_sitemap_url("https://shop.example/anything")
    path.write_text('[[site]]\nhosts = ["shop.example"]\nsitemap_follow = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"sitemap_follow\[0\] '\(unclosed' is not a regular expression"):
        load_rules(path)
