"""Text that real shop pages carry around their products: descriptions, reviews, specifications.

The benchmark's page shapes (``shapes.py``) need pages of 30 KB to 600 KB
whose size and markup vary with a seed, without spending seconds per page
to make them. So a fixed pool of paragraphs is built once, at import, and a
page picks from it with its own ``random.Random``: a page costs a join, not
a text generator.
"""

from __future__ import annotations

import random
from html import escape

_WORDS = (
    "crafted", "durable", "everyday", "finish", "comfortable", "design", "quality", "materials", "tested",
    "warranty", "care", "dishwasher", "safe", "hand", "wash", "recommended", "balanced", "weight", "grip",
    "surface", "colour", "may", "vary", "slightly", "from", "the", "photos", "shipping", "returns", "within",
    "thirty", "days", "sustainably", "sourced", "packaging", "recyclable", "perfect", "gift", "kitchen",
    "office", "travel", "outdoor", "season", "compact", "storage", "easy", "to", "clean", "lasting", "value",
    "über", "crème", "naïve", "façade", "smörgåsbord", "jalapeño", "déjà", "vu", "and", "with", "for", "a",
)
_POOL_SIZE = 256
_REVIEWERS = ("Alex", "Sam", "Jordan", "Mia", "Noah", "Élodie", "Jürgen", "Hana", "Priya", "Tomás", "Kofi", "Lena")


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + rng.choice((".", ".", ".", "!", " & more."))


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 9)))


_POOL_RNG = random.Random("demoshop-filler")
PARAGRAPHS: tuple[str, ...] = tuple(escape(_paragraph(_POOL_RNG)) for _ in range(_POOL_SIZE))


def paragraphs(rng: random.Random, count: int) -> list[str]:
    """``count`` paragraphs of HTML-escaped text, drawn from the pool."""
    return [PARAGRAPHS[int(rng.random() * _POOL_SIZE)] for _ in range(count)]


def review(rng: random.Random, index: int) -> str:
    """One customer review as a list item (author, stars, date, text): markup without any price."""
    stars = rng.randint(1, 5)
    text = "</p><p>".join(paragraphs(rng, rng.randint(1, 3)))
    return (
        f'<li class="review" id="review-{index}">\n'
        f'<div class="review-head"><span class="author">{rng.choice(_REVIEWERS)}</span> '
        f'<span class="stars" aria-label="{stars} out of 5">{"★" * stars}{"☆" * (5 - stars)}</span> '
        f'<time datetime="2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}">'
        f"{rng.randint(1, 28)} days ago</time></div>\n"
        f"<p>{text}</p>\n"
        f'<button class="helpful" data-review="{index}">Helpful ({rng.randint(0, 99)})</button>\n'
        "</li>\n"
    )


def spec_rows(rng: random.Random, count: int) -> str:
    """A specifications table's rows."""
    return "".join(
        f"<tr><th>{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)}</th>"
        f"<td>{rng.randint(1, 999)} {rng.choice(('mm', 'g', 'ml', 'cm', 'W', '%'))}</td></tr>\n"
        for _ in range(count)
    )
