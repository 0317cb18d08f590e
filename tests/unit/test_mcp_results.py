"""What the model sees of an MCP tool result: text as is, other content described, never dropped."""

from __future__ import annotations

import mcp_types as types

from chatloom.tools.mcp_session import describe, result_text


def test_text_is_passed_and_other_content_is_described() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Here is the chart."),
            types.ImageContent(type="image", data="aGVsbG8gd29ybGQh", mime_type="image/png"),
            types.AudioContent(type="audio", data="aGVsbG8=", mime_type="audio/wav"),
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(uri="file:///notes.txt", text="note body"),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(uri="file:///a.bin", blob="AAAA", mime_type="x/y"),
            ),
            types.ResourceLink(type="resource_link", uri="https://example.com/r", name="report"),
        ]
    )
    assert result_text(result).split("\n") == [
        "Here is the chart.",
        "[image content (image/png, about 12 bytes) not shown]",
        "[audio content (audio/wav, about 6 bytes) not shown]",
        "[resource file:///notes.txt]",
        "note body",
        "[binary resource file:///a.bin (x/y) not shown]",
        "[resource link https://example.com/r (report)]",
    ]


def test_structured_content_alone_is_passed_as_json() -> None:
    result = types.CallToolResult(content=[], structured_content={"total": 3})
    assert result_text(result) == '{"total":3}'


def test_failures_name_the_origin_only() -> None:
    url = "https://user:pw@mcp.example.com:8443/secret/path?token=abc"
    assert describe(TimeoutError(), url, 5) == "https://mcp.example.com:8443 gave no answer within 5 s"
    group = ExceptionGroup("x", [ConnectionRefusedError("refused")])
    assert describe(group, url, 5) == "could not connect to https://mcp.example.com:8443"
    assert "token" not in describe(RuntimeError(url), url, 5)
