"""write_site: the static tree nginx serves is byte-identical to what the server renders."""

from __future__ import annotations

from pathlib import Path

from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import ROBOTS_TXT, render_listing, render_product
from stages.demoshop.site import WrittenSite, write_site


def test_writes_robots_and_every_listing_page(tmp_path: Path) -> None:
    catalog = Catalog(4)
    written = write_site(catalog, tmp_path / "site")
    root = tmp_path / "site"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == \
        ["list/1.html", "list/2.html", "list/3.html", "list/4.html", "robots.txt"]
    assert (root / "robots.txt").read_bytes() == ROBOTS_TXT
    for n in range(1, 5):
        assert (root / "list" / f"{n}.html").read_bytes() == render_listing(catalog, n)
    assert written == WrittenSite(5, sum(p.stat().st_size for p in root.rglob("*") if p.is_file()))


def test_product_pages_on_request(tmp_path: Path) -> None:
    catalog = Catalog(2)
    written = write_site(catalog, tmp_path, product_pages=True)
    products = [p for n in (1, 2) for p in catalog.page_products(n)]
    assert sorted(p.name for p in (tmp_path / "product").iterdir()) == sorted(f"{p.id}.html" for p in products)
    assert (tmp_path / "product" / f"{products[-1].id}.html").read_bytes() == render_product(catalog, products[-1].id)
    assert written.files == 1 + 2 + len(products)


def test_worker_processes_write_the_same_bytes(tmp_path: Path) -> None:
    catalog = Catalog(2_000)
    written = write_site(catalog, tmp_path, workers=2)  # 1,000 pages each: the pool is used
    assert written.files == 2_001
    assert len(list((tmp_path / "list").iterdir())) == 2_000
    for n in (1, 1_000, 1_001, 2_000):
        assert (tmp_path / "list" / f"{n}.html").read_bytes() == render_listing(catalog, n)
