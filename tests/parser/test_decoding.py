"""Body bytes to text: the header, a BOM, <meta>, then detection; never an exception."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.parser.decoding import decode_body

from . import FIXTURES


def test_a_lying_utf8_header_loses_to_the_meta_charset_cp1251() -> None:
    text, encoding, _ = decode_body((FIXTURES / "cp1251_meta.html").read_bytes(), "utf-8")
    assert encoding == "cp1251"
    assert "Чайник электрический «Заря»" in text


def test_a_lying_utf8_header_loses_to_http_equiv_latin1_read_as_windows_1252() -> None:
    text, encoding, _ = decode_body((FIXTURES / "latin1_meta.html").read_bytes(), "utf-8")
    assert encoding == "cp1252"  # the WHATWG meaning of the label "ISO-8859-1"
    assert "Set à crème brûlée" in text and "12,50 €" in text


def test_no_charset_anywhere_and_not_utf8_falls_back_to_windows_1252() -> None:
    text, encoding, _ = decode_body((FIXTURES / "nocharset_latin1.html").read_bytes(), None)
    assert (encoding, "Café au lait bowl" in text) == ("cp1252", True)


def test_no_charset_anywhere_but_valid_utf8_is_utf8() -> None:
    text, encoding, _ = decode_body((FIXTURES / "nocharset_utf8.html").read_bytes(), None)
    assert (encoding, "Café au lait bowl" in text) == ("utf-8", True)


def test_a_truthful_header_wins_without_looking_at_the_body() -> None:
    body = '<meta charset="utf-8"><p>Привет</p>'.encode("koi8-r")
    assert decode_body(body, "koi8-r") == ('<meta charset="utf-8"><p>Привет</p>', "koi8-r", False)


def test_a_byte_order_mark_wins_over_the_header() -> None:
    body = codecs.BOM_UTF16_LE + "<p>Grüße</p>".encode("utf-16-le")
    assert decode_body(body, "utf-8") == ("<p>Grüße</p>", "utf-16-le", False)


def test_an_unknown_header_label_is_ignored() -> None:
    assert decode_body("<p>Café</p>".encode(), "x-no-such-charset") == ("<p>Café</p>", "utf-8", True)


def test_a_multibyte_character_cut_off_by_the_body_cap_does_not_overrule_utf8() -> None:
    body = "<p>Привет</p>".encode()[:-5]  # ends inside "т"
    text, encoding, _ = decode_body(body, "utf-8")
    assert encoding == "utf-8" and text.startswith("<p>Приве") and text.endswith("\ufffd")


def test_bad_bytes_everywhere_become_replacement_characters() -> None:
    text, encoding, _ = decode_body(b"<p>\xff\xfe broken \xc3</p>", "utf-8")
    assert encoding == "utf-8" and text.count("\ufffd") >= 2 and "broken" in text


@pytest.mark.parametrize("label", [None, "utf-8", "latin-1", "shift_jis", "utf-16", "gb2312", "nonsense", ""])
@given(body=st.binary(max_size=300))
def test_decoding_never_raises(label: str | None, body: bytes) -> None:
    text, encoding, utf8_body = decode_body(body, label)
    assert isinstance(text, str) and codecs.lookup(encoding)
    # Only a body that is exactly the text in UTF-8 may be parsed as it is.
    assert utf8_body == (text.encode() == body and encoding == "utf-8" and not body.startswith(codecs.BOM_UTF8))


@pytest.mark.parametrize("codec, sentence", [
    ("cp1251", "Чайник электрический, цена 1 290 руб. В наличии на складе."),
    ("shift_jis", "電気ケトル、価格は1290円です。在庫あり。"),
])
def test_an_undeclared_non_western_page_is_detected(codec: str, sentence: str) -> None:
    body = ("<html><body>" + f"<p>{sentence}</p>" * 20 + "</body></html>").encode(codec)
    assert sentence in decode_body(body, None).text


@pytest.mark.parametrize("body, header, utf8_body", [
    ("<p>12,50 €</p>".encode(), "utf-8", True),
    ("<p>12,50 €</p>".encode(), None, True),
    (codecs.BOM_UTF8 + "<p>12,50 €</p>".encode(), "utf-8", False),
    ("<p>12,50 €</p>".encode()[:-6], "utf-8", False),  # cut off inside "€"
    (b"<p>\xff broken</p>", "utf-8", False),
    ("<p>12,50 €</p>".encode("cp1252"), "windows-1252", False),
])
def test_only_a_clean_utf8_body_is_handed_to_the_parser_as_it_is(body: bytes, header: str | None,
                                                                  utf8_body: bool) -> None:
    assert decode_body(body, header).utf8_body is utf8_body
