"""Web input robustness: gzip-compressed pages, binary files named .html, no document at all."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from synthpedia.errors import InputError
from synthpedia.web.extract import extract_web, looks_binary

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_PAGES = sorted((ROOT / "resources" / "web").glob("*.html"))


def _page(index: int = 0) -> bytes:
    if len(BUNDLED_PAGES) > index:
        return BUNDLED_PAGES[index].read_bytes()
    paragraph = f"<p>Page {index}. " + "Bread crust forms when the surface dries and browns in the oven. " * 8 + "</p>"
    return f"<html><body><article>{paragraph}</article></body></html>".encode()


def test_folder_of_gzip_compressed_pages_is_read(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "packed").mkdir()
    for index in (0, 1):
        (tmp_path / "plain" / f"{index}.html").write_bytes(_page(index))
        (tmp_path / "packed" / f"{index}.html.gz").write_bytes(gzip.compress(_page(index)))
    plain = extract_web(sorted((tmp_path / "plain").iterdir()), "resiliparse", 100)
    packed = extract_web(sorted((tmp_path / "packed").iterdir()), "resiliparse", 100)
    assert packed.height == 2
    assert packed["text"].to_list() == plain["text"].to_list()  # read the same way, compressed or not


def test_binary_file_named_html_is_skipped_counted_and_named(tmp_path, caplog):
    good = tmp_path / "good.html"
    good.write_bytes(_page(0))
    image = tmp_path / "photo.html"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    with caplog.at_level(logging.INFO, logger="synthpedia.web.extract"):
        docs = extract_web([good, image], "resiliparse", 100)
    assert docs.height == 1
    assert f"web: {image}: binary content, not an HTML page: skipped" in caplog.text
    assert "1 binary files skipped" in caplog.text
    assert looks_binary(b"\x00\x01\x02abc") and not looks_binary("café <p>text</p>\n\t".encode())


def test_no_document_is_an_error_naming_the_config_key(tmp_path):
    image = tmp_path / "photo.html"
    image.write_bytes(b"\x00" * 100)
    short = tmp_path / "short.html"
    short.write_text("<html><body><p>Hi.</p></body></html>")
    with pytest.raises(InputError, match=r"no documents extracted from 2 input files .*1 binary files skipped.*sources\.web\.inputs"):
        extract_web([image, short], "resiliparse", 100)
    with pytest.raises(InputError, match=r"no documents extracted from 0 input files"):
        extract_web([], "resiliparse", 100)


def test_trimmed_extract_keeps_the_article_body_and_its_line_breaks():
    from synthpedia.web.extract import trim_to_prose

    text = (
        "Home | News | Sport\nShare on Facebook\n\n"
        "Glaciers in the Alps lost a tenth of their volume in two summers, a new survey shows.\n\n"
        "Why it matters\n"
        "Meltwater feeds rivers that farms and towns depend on during the dry months of the year.\n\n"
        "Related articles\nSubscribe to our newsletter\n"
    )
    assert trim_to_prose(text) == (
        "Glaciers in the Alps lost a tenth of their volume in two summers, a new survey shows.\n\n"
        "Why it matters\n"
        "Meltwater feeds rivers that farms and towns depend on during the dry months of the year."
    )
    assert trim_to_prose("Menu\nLogin\n") == "Menu\nLogin"  # nothing to go by: left as it is
