"""Text out of an uploaded file: its format decided from its name and its first bytes, then one extractor
per format. Meant to run inside the worker process (`worker.py`), under its memory, CPU and time limits;
every extractor also bounds what it reads and writes itself, so a hostile file fails with a reason.

Formats: plain text (txt, md, csv, tsv, json, yaml/yml, log), xml, html/htm, pdf, docx. Legacy .doc is
refused with a reason. A file whose name says text but whose bytes are not is refused ("not text").
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

TEXT_FORMATS = frozenset(("txt", "md", "csv", "tsv", "json", "yaml", "yml", "log"))
FORMATS = TEXT_FORMATS | {"xml", "html", "htm", "pdf", "docx", "doc"}
EXTENSION_ALIASES = {"markdown": "md", "text": "txt"}

MAX_PDF_PAGES = 2000
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
"""What a .docx may unpack to in all, as its directory claims (checked before anything is unpacked)."""
MAX_DOCX_XML_BYTES = 32 * 1024 * 1024
"""What `word/document.xml` may unpack to, counted while unpacking (a directory may lie)."""
MAX_CONTROL_RATIO = 0.01
"""Text may hold this share of control characters (other than tab, newline, carriage return, form feed)."""

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BINARY_MAGICS = (
    PDF_MAGIC,
    ZIP_MAGIC,
    OLE_MAGIC,
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x1f\x8b",
    b"\x7fELF",
    b"MZ",
    b"BZh",
    b"\xfd7zXZ",
)


class ExtractionFailed(Exception):
    """The file's text cannot be taken out; the message says why, for the file's `failedReason`."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_text_bytes: int
    max_pdf_pages: int = MAX_PDF_PAGES


def extension_of(name: str) -> str:
    _, dot, extension = name.rpartition(".")
    extension = extension.lower() if dot else ""
    return EXTENSION_ALIASES.get(extension, extension)


def format_of(name: str, head: bytes) -> str:
    """The format to extract: the name's extension when it is a known one, else what the bytes look like
    (a PDF, a zip taken as .docx, else text). The extractor then checks the bytes match the claim."""
    extension = extension_of(name)
    if extension in FORMATS:
        return extension
    if head.startswith(PDF_MAGIC):
        return "pdf"
    if head.startswith(ZIP_MAGIC):
        return "docx"
    if head.startswith(OLE_MAGIC):
        return "doc"
    if extension:
        raise ExtractionFailed(
            f"unsupported file type .{extension[:20]}; supported: {', '.join(sorted(FORMATS))}"
        )
    return "txt"


def extract(name: str, data: bytes, limits: Limits) -> str:
    """The text of the file called `name` holding `data`; `ExtractionFailed` says why there is none."""
    kind = format_of(name, data[:16])
    if kind == "doc":
        raise ExtractionFailed("legacy .doc is not supported; save as .docx")
    if kind == "pdf":
        text = pdf_text(data, limits)
    elif kind == "docx":
        text = docx_text(data, limits)
    elif kind == "xml":
        text = xml_text(decoded(data), limits)
    elif kind in ("html", "htm"):
        text = html_text(decoded(data))
    else:
        text = decoded(data)
    return bounded(text, limits)


def bounded(text: str, limits: Limits) -> str:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_text_bytes:
        raise ExtractionFailed(f"extracted text is larger than {limits.max_text_bytes} bytes")
    return text


def decoded(data: bytes) -> str:
    """`data` as text: UTF-8 (with or without a BOM), UTF-16 with a BOM, else Latin-1 when nothing in it
    looks binary. A NUL byte, a known binary signature or too many control characters: not text."""
    if data.startswith(BINARY_MAGICS):
        raise ExtractionFailed("not text: the content is a binary file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ExtractionFailed("not text: invalid UTF-16") from None
    else:
        if b"\x00" in data:
            raise ExtractionFailed("not text: the content holds NUL bytes (a binary file?)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    controls = sum(1 for char in text if (ord(char) < 32 and char not in "\t\n\r\f") or char == "\x7f")
    if "\x00" in text or controls > MAX_CONTROL_RATIO * max(len(text), 1):
        raise ExtractionFailed("not text: the content holds control characters (a binary file?)")
    return text


def pdf_text(data: bytes, limits: Limits) -> str:
    if PDF_MAGIC not in data[:1024]:
        raise ExtractionFailed("not a PDF: the content does not start with %PDF-")
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionFailed("the PDF is encrypted")
        tree = reader.root_object.get("/Pages")
        tree = tree.get_object() if tree is not None else None
        claimed = tree.get("/Count", 0) if isinstance(tree, dict) else 0  # what it says, before walking it
        if isinstance(claimed, int) and claimed > limits.max_pdf_pages:
            raise ExtractionFailed(f"the PDF claims {claimed} pages; at most {limits.max_pdf_pages} are read")
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise ExtractionFailed(f"the PDF has {count} pages; at most {limits.max_pdf_pages} are read")
        parts: list[str] = []
        size = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            size += len(text.encode("utf-8", "surrogatepass")) + 1
            if size > limits.max_text_bytes:
                raise ExtractionFailed(f"extracted text is larger than {limits.max_text_bytes} bytes")
            parts.append(text)
    except ExtractionFailed:
        raise
    except LimitReachedError:
        raise ExtractionFailed("the PDF's structure is larger than the reader's limits") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise ExtractionFailed(f"the PDF cannot be read: {type(error).__name__}") from None
    except RecursionError:
        raise ExtractionFailed("the PDF cannot be read: its structure nests too deeply") from None
    return "\n".join(parts).strip()


def docx_text(data: bytes, limits: Limits) -> str:
    """The paragraphs of `word/document.xml`. The zip's directory is checked before anything is unpacked
    (member count, total size), and the one member read is counted while it unpacks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise ExtractionFailed("not a .docx: the content is not a zip archive") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise ExtractionFailed(
                f"the .docx holds {len(members)} parts; at most {MAX_ZIP_MEMBERS} are accepted"
            )
        claimed = sum(member.file_size for member in members)
        if claimed > MAX_ZIP_UNCOMPRESSED_BYTES:
            raise ExtractionFailed(
                f"the .docx unpacks to {claimed} bytes; at most {MAX_ZIP_UNCOMPRESSED_BYTES} are accepted"
            )
        try:
            document = archive.getinfo("word/document.xml")
        except KeyError:
            raise ExtractionFailed("not a .docx: word/document.xml is missing") from None
        try:
            with archive.open(document) as member:
                xml = member.read(MAX_DOCX_XML_BYTES + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
            raise ExtractionFailed(f"the .docx cannot be unpacked: {type(error).__name__}") from None
    if len(xml) > MAX_DOCX_XML_BYTES:
        raise ExtractionFailed(f"the .docx text part unpacks to more than {MAX_DOCX_XML_BYTES} bytes")
    root = _parse_xml(xml, "the .docx")
    word = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    paragraphs: list[str] = []
    size = 0
    for paragraph in root.iter(f"{word}p"):
        pieces: list[str] = []
        for node in paragraph.iter():
            if node.tag == f"{word}t" and node.text:
                pieces.append(node.text)
            elif node.tag == f"{word}tab":
                pieces.append("\t")
            elif node.tag in (f"{word}br", f"{word}cr"):
                pieces.append("\n")
        line = "".join(pieces)
        size += len(line.encode("utf-8", "surrogatepass")) + 1
        if size > limits.max_text_bytes:
            raise ExtractionFailed(f"extracted text is larger than {limits.max_text_bytes} bytes")
        paragraphs.append(line)
    return "\n".join(paragraphs).strip()


def _parse_xml(data: bytes | str, what: str) -> Any:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data)
    except DefusedXmlException as error:
        raise ExtractionFailed(
            f"{what} uses XML features that are refused ({type(error).__name__})"
        ) from None
    except ParseError as error:
        raise ExtractionFailed(f"{what} is not well-formed XML: {error}") from None


def xml_text(text: str, limits: Limits) -> str:
    """The text of every element, one piece per line."""
    root = _parse_xml(text.encode("utf-8", "surrogatepass"), "the XML")
    pieces: list[str] = []
    size = 0
    for node in root.iter():
        for piece in (node.text, node.tail):
            if piece and piece.strip():
                stripped = piece.strip()
                size += len(stripped.encode("utf-8", "surrogatepass")) + 1
                if size > limits.max_text_bytes:
                    raise ExtractionFailed(f"extracted text is larger than {limits.max_text_bytes} bytes")
                pieces.append(stripped)
    return "\n".join(pieces)


SKIPPED_TAGS = frozenset(("script", "style", "noscript", "template", "svg"))
BLOCK_TAGS = frozenset(
    (
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "title", "hr", "dd", "dt",
    )
)  # fmt: skip


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        elif tag in BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.pieces.append(data)


def html_text(text: str) -> str:
    """The visible text: scripts, styles and templates dropped, blocks on lines of their own."""
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.pieces).splitlines())
    return "\n".join(line for line in lines if line)
