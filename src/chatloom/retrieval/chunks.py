"""Chunks: a file's extracted text (markdown or plain) cut into passages of bounded size.

Each passage keeps its context: the file's name and the path of markdown headings (`#` ... `######`) it sits
under, joined with " > " (`returns.md > Refunds > Damaged items`). The context is stored with the passage,
indexed with its text and shown to the model with it, so a passage whose words say "30 days" is still found
by a question about refunds.

Text is cut into sections at headings, a section into paragraphs, and paragraphs are packed into passages of
about `target` characters; a paragraph longer than that is cut at sentence ends, then at spaces, then
anywhere. A passage after the first of its section starts with the last `overlap` characters (whole words)
of the one before, so a fact cut in two is whole in one of them. The same text always gives the same
passages. Bounds: at most `max_chunks` passages per file (the rest is dropped), and no passage longer than
`target + overlap` characters and the few that join them (`max_chars`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

TARGET_CHARS = 800
OVERLAP_CHARS = 120
MAX_CHUNKS = 20_000
"""Passages kept per file: about 16 MB of text at the default size, far beyond a knowledge-base file."""
MAX_HEADING_CHARS = 300
"""The longest context kept (file name and heading path); a longer one keeps its end."""
MAX_NAME_CHARS = 120
SEPARATOR = " > "

HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage: its position in the file (0, 1, ...), its context (file name, heading path) and text."""

    ordinal: int
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class _Section:
    path: tuple[str, ...]
    body: str


def chunk_text(
    text: str,
    file_name: str,
    *,
    target: int = TARGET_CHARS,
    overlap: int = OVERLAP_CHARS,
    max_chunks: int = MAX_CHUNKS,
) -> list[Chunk]:
    """`text` as passages of about `target` characters, each with its context (see the module)."""
    if target < 100 or not 0 <= overlap < target // 2:
        raise ValueError("target must be at least 100 characters and overlap less than half of it")
    name = " ".join(file_name.split())[:MAX_NAME_CHARS]
    chunks: list[Chunk] = []
    for section in _sections(text.replace("\r\n", "\n").replace("\r", "\n")):
        heading = _context(name, section.path)
        for piece in _pack(_pieces(section.body, target), target, overlap):
            if len(chunks) >= max_chunks:
                return chunks
            chunks.append(Chunk(len(chunks), heading, piece))
    return chunks


def max_chars(target: int = TARGET_CHARS, overlap: int = OVERLAP_CHARS) -> int:
    """The longest passage `chunk_text` makes: a carried tail ("…" and `overlap`), a blank line, `target`."""
    return target + overlap + 3


def _context(name: str, path: tuple[str, ...]) -> str:
    context = SEPARATOR.join(part for part in (name, *path) if part)
    return context if len(context) <= MAX_HEADING_CHARS else "…" + context[-(MAX_HEADING_CHARS - 1) :]


def _sections(text: str) -> Iterator[_Section]:
    """The text between headings, each with the headings above it (outside fenced code)."""
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match is None:
            lines.append(line)
            continue
        body = "\n".join(lines).strip()
        if body:
            yield _Section(tuple(title for _, title in path), body)
        lines = []
        level = len(match.group(1))
        path = [(depth, title) for depth, title in path if depth < level]
        path.append((level, " ".join(match.group(2).split())))
    body = "\n".join(lines).strip()
    if body:
        yield _Section(tuple(title for _, title in path), body)


def _pieces(body: str, target: int) -> Iterator[str]:
    """Paragraphs, each at most `target` characters (longer ones cut at sentences, spaces, or anywhere)."""
    for paragraph in BLANK_LINES.split(body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= target:
            yield paragraph
            continue
        for sentence in SENTENCE_END.split(paragraph):
            yield from _cut(sentence, target)


def _cut(text: str, target: int) -> Iterator[str]:
    while len(text) > target:
        cut = text.rfind(" ", target // 2, target + 1)
        if cut <= 0:
            cut = target
        yield text[:cut].strip()
        text = text[cut:].strip()
    if text:
        yield text


def _pack(pieces: Iterator[str], target: int, overlap: int) -> Iterator[str]:
    """Consecutive pieces joined into passages of at most `target` characters, each after the first
    starting with the tail of the one before."""
    current: list[str] = []
    size = 0
    carried = False
    for piece in pieces:
        if current and size + 2 + len(piece) > target and not (carried and len(current) == 1):
            passage = "\n\n".join(current)
            yield passage
            tail = _tail(passage, overlap)
            current, size, carried = ([tail], len(tail), True) if tail else ([], 0, False)
        current.append(piece)
        size += len(piece) + (2 if len(current) > 1 else 0)
    if current and not (carried and len(current) == 1):
        yield "\n\n".join(current)


def _tail(text: str, overlap: int) -> str:
    """The last `overlap` characters of `text`, starting at a word."""
    if overlap <= 0 or len(text) <= overlap:
        return ""
    tail = text[-overlap:]
    space = tail.find(" ")
    return "…" + tail[space + 1 :].strip() if 0 <= space < len(tail) - 1 else ""
