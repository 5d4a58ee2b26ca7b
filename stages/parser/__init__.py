"""The parser stage: consumes ``crawl.pages``, produces ``crawl.products`` and followed links to ``crawl.urls``.

See step 3 of the data flow in ``stages/__init__.py``. The modules here are the
pure extraction library the stage calls once per page, one job each:

- ``decoding``: raw body bytes to text (header charset, BOM, ``<meta>``, detection).
- ``rules``: per-site CSS rules from a TOML file, validated at load time.
- ``extract``: one page in, products and links out (``extract_page``).
- ``structured``: products from structured data, with no rules: ``jsonld``,
  ``microdata`` and ``opengraph`` read one vocabulary each, ``schemaorg``
  holds what they share.
- ``product``: the extracted product record and how duplicates merge.
- ``prices`` / ``currencies``: price text to a decimal string and an ISO 4217 code.
- ``availability``: stock text to "InStock" / "OutOfStock".
- ``links``: resolving hrefs against the page's base URL.
- ``ids``: canonical URLs and stable product ids.
"""
