"""ops/bench/extract: precision, recall and F1 per field of the parser's extraction over a labelled corpus.

Each page of the corpus (``tests/fixtures/extract/``: ``labels.jsonl`` and
the pages it names) goes through exactly what the parser stage runs without a
rules file: ``extract_page`` and the record builder. Records are matched to
the labelled products by canonical URL; a page with one labelled product
matches its first record when no URL matches. Per field:

- a prediction is a matched or unmatched record with a value for the field;
  records that match no labelled product (a second record for one product, a
  product on a page that has none) are predictions that are all wrong;
- it is right when it equals the label: prices and amounts as decimals, titles
  with whitespace collapsed and case folded, the rest exactly;
- precision = right / predictions, recall = right / labelled values.

Last line:

    extract: pages=<n> price_f1=<a> title_f1=<b> currency_f1=<c> availability_f1=<d> sku_f1=<e>

Exits 1 when price_f1 is below 0.95. ``--misses`` lists every wrong or
missing value, for finding what to improve.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
from harness import ROOT

from stages.parser.extract import extract_page
from stages.parser.ids import canonical_url
from stages.parser.records import product_record

FIELDS = ("price", "title", "currency", "availability", "sku")
PRICE_F1_TARGET = 0.95


@dataclass
class Score:
    """Counts for one field."""

    predicted: int = 0
    right: int = 0
    labelled: int = 0

    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 0.0

    def recall(self) -> float:
        return self.right / self.labelled if self.labelled else 0.0

    def f1(self) -> float:
        p, r = self.precision(), self.recall()
        return 2 * p * r / (p + r) if p + r else 0.0


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _same_text(a: Any, b: Any) -> bool:
    return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()


SAME: dict[str, Callable[[Any, Any], bool]] = {
    "price": lambda got, want: _decimal(got) == _decimal(want),
    "title": _same_text,
}


def page_records(path: Path, url: str) -> list[dict[str, Any]]:
    """The records the parser stage would publish for the page at `path`, fetched from `url`, with no rules."""
    extraction = extract_page(path.read_bytes(), url=url, header_charset=None, rules=None, with_links=False)
    now = datetime.now(UTC)
    return [orjson.loads(product_record(product, site="bench", page_url=url, fetched_at=now, parsed_at=now,
                                        parser_version="").to_json())
            for product in extraction.products]


def match(labels: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[tuple[dict | None, dict | None]]:
    """Pairs (label, record); a label without a record or a record without a label is paired with None."""
    unmatched = list(records)
    pairs: list[tuple[dict | None, dict | None]] = []
    for label in labels:
        wanted = canonical_url(label["url"])
        found = next((r for r in unmatched if r["url"] == wanted), None)
        if found is None and len(labels) == 1 and unmatched:
            found = unmatched[0]
        if found is not None:
            unmatched.remove(found)
        pairs.append((label, found))
    pairs.extend((None, record) for record in unmatched)
    return pairs


def score(corpus: Path, misses: bool) -> tuple[int, dict[str, Score]]:
    scores = {name: Score() for name in FIELDS}
    pages = 0
    for line in (corpus / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        page = orjson.loads(line)
        pages += 1
        for label, record in match(page["products"], page_records(corpus / page["file"], page["url"])):
            for name in FIELDS:
                want = label.get(name) if label else None
                got = record.get(name) if record else None
                counts = scores[name]
                counts.labelled += want is not None
                counts.predicted += got is not None
                right = want is not None and got is not None and SAME.get(name, str.__eq__)(got, want)
                counts.right += right
                if misses and not right and (want is not None or got is not None):
                    print(f"miss {page['file']} {name}: got {got!r} want {want!r}"
                          f" ({record['method'] if record else 'no record'})", file=sys.stderr)
    return pages, scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests/fixtures/extract",
                        help="directory with labels.jsonl and the pages it names")
    parser.add_argument("--misses", action="store_true", help="list every wrong or missing value on stderr")
    args = parser.parse_args()
    pages, scores = score(args.corpus, args.misses)
    print(f"{'field':<14}{'precision':>10}{'recall':>8}{'f1':>7}{'right':>7}{'predicted':>10}{'labelled':>9}")
    for name, counts in scores.items():
        print(f"{name:<14}{counts.precision():>10.3f}{counts.recall():>8.3f}{counts.f1():>7.3f}"
              f"{counts.right:>7}{counts.predicted:>10}{counts.labelled:>9}")
    figures = " ".join(f"{name}_f1={scores[name].f1():.3f}" for name in FIELDS)
    print(f"extract: pages={pages} {figures}")
    return 0 if scores["price"].f1() >= PRICE_F1_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
