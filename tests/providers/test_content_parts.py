"""Content lists in each provider's terms, and which attachments are fetched before a call: URL sources
left for the provider, text files decoded for Anthropic, `fileData` for Gemini, markers for transcripts."""

from __future__ import annotations

import base64

from chatloom.domain.attachments import has_attachments, shown_messages
from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.providers.attachment_fetch import remote
from chatloom.providers.content_parts import anthropic_blocks, gemini_parts

URL = "https://example.com/cat.png"
TEXT = "data:text/markdown;base64," + base64.b64encode("# héllo".encode()).decode()
IMAGE = {"type": "image_url", "image_url": {"url": URL}}
FILE_URL = {"type": "file", "file": {"file_url": "https://example.com/a.pdf", "filename": "a.pdf"}}


def test_anthropic_blocks() -> None:
    content = [{"type": "text", "text": ""}, IMAGE, {"type": "file", "file": {"file_data": TEXT}}, FILE_URL]
    assert anthropic_blocks(content) == [
        {"type": "image", "source": {"type": "url", "url": URL}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "# héllo"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "title": "a.pdf"},
    ]


def test_gemini_parts() -> None:
    assert gemini_parts([{"type": "text", "text": "hi"}, IMAGE, FILE_URL]) == [
        {"text": "hi"},
        {"fileData": {"mimeType": "image/png", "fileUri": URL}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}},
    ]


def test_what_is_fetched() -> None:
    inline = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert remote(IMAGE, images=True) and not remote(IMAGE, images=False)
    assert remote(FILE_URL, images=False) and not remote(inline, images=True)
    assert not remote({"type": "text", "text": URL}, images=True)


def test_markers_and_detection() -> None:
    plain = [{"role": "user", "content": "hi"}, {"role": "user", "content": [{"type": "text", "text": "x"}]}]
    attached = [{"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE, FILE_URL]}]
    assert not has_attachments(plain) and has_attachments(attached)
    assert has_attachments(EncodedMessages.join([attached]))  # known when joined
    assert not has_attachments(EncodedMessages.join([plain]))
    assert shown_messages(attached) == [{"role": "user", "content": "see [image] [file: a.pdf]"}]
    assert shown_messages(plain)[0] is plain[0]
