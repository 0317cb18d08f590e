"""Attachment helpers of the domain: what a file name says its type is."""

from __future__ import annotations

from chatloom.domain.attachments import type_of_name


def test_file_types_come_from_the_server_s_own_suffix_table() -> None:
    assert type_of_name("report.XML") == "text/xml"
    assert type_of_name("notes.md") == "text/markdown"
    assert type_of_name("https://x.example/a/cat.png?size=2") == "image/png"
    assert type_of_name("archive.tar.gz") is None and type_of_name("README") is None
