"""Chunking: passages keep their file name and heading path, stay within their bounds, overlap, and are the
same for the same text."""

from __future__ import annotations

from chatloom.retrieval.chunks import chunk_text, max_chars

TEXT = """# Returns

Intro line.

## Refunds

{body}

```
# not a heading
```

# Other

Short.
"""


def long_body() -> str:
    return "\n\n".join(" ".join(f"word{n}{m}." for m in range(40)) for n in range(30))


def test_passages_keep_their_heading_path_and_stay_within_bounds() -> None:
    chunks = chunk_text(TEXT.format(body=long_body()), "returns.md")
    assert chunks == chunk_text(TEXT.format(body=long_body()), "returns.md")
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert chunks[0].heading == "returns.md > Returns" and chunks[0].text == "Intro line."
    assert chunks[-1].heading == "returns.md > Other" and chunks[-1].text == "Short."
    middle = [chunk for chunk in chunks if chunk.heading == "returns.md > Returns > Refunds"]
    assert len(middle) > 5
    assert "# not a heading" in middle[-1].text
    assert all(len(chunk.text) <= max_chars() for chunk in chunks)
    assert all(chunk.text.startswith("…") for chunk in middle[1:])
    tail = middle[0].text[-60:].split(" ", 1)[1]
    assert tail in middle[1].text


def test_plain_text_and_the_passage_bound() -> None:
    text = "\n\n".join(f"Paragraph {n} " + "x" * 700 for n in range(50))
    chunks = chunk_text(text, "notes.txt", max_chunks=10)
    assert len(chunks) == 10 and {chunk.heading for chunk in chunks} == {"notes.txt"}
    assert chunk_text("", "empty.md") == [] and chunk_text("# Only a heading\n", "h.md") == []
