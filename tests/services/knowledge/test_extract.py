"""Extraction of each format from documents the tests build, and the errors bad input raises."""

from __future__ import annotations

import io
import zipfile

import grpc
import pytest

from services.knowledge.document import BlockKind, ExtractedDocument, ExtractionLimits
from services.knowledge.errors import (
    CorruptDocumentError,
    DecompressionLimitError,
    DocumentTooLargeError,
    EmptyDocumentError,
    ExtractionError,
    UnsupportedFormatError,
)
from services.knowledge.extract import extract
from tests.services.knowledge.sample_documents import (
    DOCX_MIME,
    HANDBOOK_MARKDOWN,
    PRICING_HTML,
    handwritten_pdf,
    make_docx,
    make_pdf,
    text_stream,
    zip_bomb_docx,
)


def assert_offsets_true(document: ExtractedDocument) -> None:
    """Every block's text is exactly its slice of the full text, in order, and blocks fill the text."""
    previous_end = 0
    for block in document.blocks:
        assert document.text[block.char_start : block.char_end] == block.text
        assert block.char_start >= previous_end
        previous_end = block.char_end
    assert previous_end == len(document.text)
    assert "\n\n".join(block.text for block in document.blocks) == document.text


def kinds(document: ExtractedDocument) -> list[tuple[str, str]]:
    """(kind, text) of each block."""
    return [(block.kind.value, block.text) for block in document.blocks]


def test_html_structure_without_scripts_styles_or_chrome() -> None:
    document = extract(PRICING_HTML, "text/html; charset=utf-8")
    assert_offsets_true(document)
    assert document.title == "Acme Pricing"
    assert document.mime_type == "text/html"
    assert kinds(document) == [
        ("heading", "Pricing"),
        ("paragraph", "Acme offers three plans. Every plan includes support & updates."),
        ("heading", "Enterprise"),
        ("paragraph", "The Enterprise plan costs $99 per seat and month."),
        ("list", "- Single sign-on\n  - SAML\n  - OIDC\n- Audit logs"),
        ("heading", "Limits"),
        ("table", "Plan | Seats\nTeam | 10\nEnterprise | unlimited"),
        ("code", 'curl https://api.acme.test/v1/plans\n  --header "Accept: application/json"'),
    ]
    for chrome in ("trackingSecret", "script", "color: red", "logo", "Careers", "cookies", "blog", "Copyright"):
        assert chrome not in document.text
    table = next(b for b in document.blocks if b.kind is BlockKind.TABLE)
    assert table.title_path == ("Pricing", "Enterprise", "Limits")
    headings = [(b.text, b.heading_level, b.title_path) for b in document.blocks if b.kind is BlockKind.HEADING]
    assert headings == [
        ("Pricing", 1, ("Pricing",)),
        ("Enterprise", 2, ("Pricing", "Enterprise")),
        ("Limits", 3, ("Pricing", "Enterprise", "Limits")),
    ]


def test_html_callout_headings_do_not_open_sections() -> None:
    page = (
        b"<article><h2>Backups</h2><p>Run them nightly.</p>"
        b'<div class="admonition warning"><h3>Warning</h3><p>Test your restores.</p></div>'
        b"<p>Keep three copies.</p><h3>Restore</h3><p>Stop the server first.</p></article>"
    )
    document = extract(page, "text/html")
    assert [(b.kind.value, b.text, b.title_path) for b in document.blocks] == [
        ("heading", "Backups", ("Backups",)),
        ("paragraph", "Run them nightly.", ("Backups",)),
        ("paragraph", "Warning", ("Backups",)),
        ("paragraph", "Test your restores.", ("Backups",)),
        ("paragraph", "Keep three copies.", ("Backups",)),
        ("heading", "Restore", ("Backups", "Restore")),
        ("paragraph", "Stop the server first.", ("Backups", "Restore")),
    ]


def test_html_without_main_reads_body_and_decodes_meta_charset() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><h2>Caf\xe9</h2><p>Cr\xe8me br\xfbl\xe9e</p>'
    document = extract(page.encode("cp1252"), "", url="https://example.test/menu")
    assert kinds(document) == [("heading", "Café"), ("paragraph", "Crème brûlée")]
    assert document.title == "Café"


def test_markdown_structure_and_front_matter_title() -> None:
    document = extract(HANDBOOK_MARKDOWN.encode(), "text/markdown")
    assert_offsets_true(document)
    assert document.title == "Employee Handbook"
    assert "author: HR" not in document.text
    assert kinds(document) == [
        ("heading", "Welcome"),
        ("paragraph", "We are glad you are here. Read this handbook before your first day."),
        ("heading", "Holidays"),
        ("paragraph", "Everyone gets 30 days of paid holiday per year. Unused days expire in March."),
        (
            "list",
            "- Public holidays are extra\n- Sick days:\n  1. Tell your manager\n  2. Send a note after three days",
        ),
        ("heading", "Tools"),
        ("table", "Tool | Use\nChat | Talking\nWiki | Writing"),
        ("code", "make onboarding"),
        ("paragraph", "Ask IT for a laptop."),
        ("paragraph", "Quoted wisdom lives here."),
    ]
    assert document.blocks[3].title_path == ("Welcome", "Holidays")


def test_docx_headings_lists_and_tables() -> None:
    document = extract(make_docx(), DOCX_MIME, filename="support.docx")
    assert_offsets_true(document)
    assert document.title == "Support Guide"
    assert kinds(document) == [
        ("paragraph", "Support Guide"),
        ("heading", "Getting help"),
        ("paragraph", "Open a ticket from the dashboard. We answer within one business day."),
        ("list", "- Email\n- Phone"),
        ("heading", "Escalation"),
        ("list", "1. Ask for the duty manager.\n2. Describe the impact."),
        ("table", "Severity | Response\nCritical | 1 hour"),
        ("heading", "Refunds"),
        ("paragraph", "Refunds are paid back to the original card within ten days."),
    ]
    escalation = document.blocks[5]
    assert escalation.title_path == ("Getting help", "Escalation")
    assert document.blocks[8].title_path == ("Refunds",)
    assert all(block.page == 0 for block in document.blocks)


def test_pdf_pages_and_outline_headings() -> None:
    document = extract(make_pdf(), "application/pdf")
    assert_offsets_true(document)
    assert document.title == "Operations Manual"
    assert document.page_count == 2
    assert [(b.kind.value, b.page, b.title_path) for b in document.blocks] == [
        ("heading", 1, ("Installation",)),
        ("paragraph", 1, ("Installation",)),
        ("heading", 2, ("Configuration",)),
        ("paragraph", 2, ("Configuration",)),
    ]
    assert document.blocks[1].text.startswith("Download the installer from the portal. Run it as an administrator.")
    assert document.blocks[3].text == (
        "Edit the settings file to point the agent at your server. Restart the agent afterwards."
    )


def test_handwritten_compressed_pdf_is_sniffed_and_paged() -> None:
    pdf = handwritten_pdf([text_stream("First page (one)."), text_stream("Second page.")], compress=True)
    document = extract(pdf, "", filename="")
    assert document.mime_type == "application/pdf"
    assert [(b.page, b.text) for b in document.blocks] == [(1, "First page (one)."), (2, "Second page.")]
    assert document.title == "First page (one)."


def test_pdf_with_empty_user_password_opens() -> None:
    document = extract(make_pdf(password=""), "application/pdf")
    assert document.page_count == 2


def test_plain_text_paragraphs_lists_headings_and_code() -> None:
    text = (
        "Release notes\n=============\n\nThis release is\nfaster than the last.\n\n"
        "- fixed login\n- fixed logout\n\n    make install\n    make test\n"
    )
    document = extract(text.encode(), "text/plain", filename="notes.txt")
    assert_offsets_true(document)
    assert kinds(document) == [
        ("heading", "Release notes"),
        ("paragraph", "This release is faster than the last."),
        ("list", "- fixed login\n- fixed logout"),
        ("code", "make install\nmake test"),
    ]
    assert document.title == "Release notes"


def test_plain_text_title_falls_back_to_file_name_and_decodes_cp1252() -> None:
    document = extract("Grüße aus Köln – “quoted”".encode("cp1252"), "text/plain", filename="C:\\docs\\greeting.txt")
    assert document.text == "Grüße aus Köln – “quoted”"
    assert document.title == "greeting"


def test_text_normalisation() -> None:
    raw = "Ef\ufb01cient\u00ad   soft\u200bware\r\nwith\x07bell\u00a0and Cafe\u0301"
    document = extract(raw.encode(), "text/plain")
    assert document.text == "Efficient software with bell and Café"


def test_csv_rows_carry_their_column_names() -> None:
    document = extract(b"plan;price;note\nTeam;10;\nEnterprise;99;call us\n", "text/csv")
    assert kinds(document) == [("table", "plan: Team | price: 10\nplan: Enterprise | price: 99 | note: call us")]


@pytest.mark.parametrize(
    ("content", "mime", "error", "message"),
    [
        (b"", "text/plain", EmptyDocumentError, "document is empty"),
        (b"  \n\t ", "text/plain", EmptyDocumentError, "document is empty"),
        (b"<html><body><script>x()</script><nav>Menu</nav></body></html>", "text/html", EmptyDocumentError, "no text"),
        (handwritten_pdf([b"0 0 m 10 10 l S"]), "application/pdf", EmptyDocumentError, "OCR"),
        (b"GIF89a....", "", UnsupportedFormatError, "GIF image"),
        (b"%PDF-1.7\nthis is not really a pdf", "application/pdf", CorruptDocumentError, "cannot be parsed"),
        (make_pdf()[:900], "application/pdf", CorruptDocumentError, "application/pdf"),
        (make_pdf(password="secret"), "application/pdf", CorruptDocumentError, "password-protected"),
        (b"PK\x03\x04garbage", DOCX_MIME, CorruptDocumentError, "not a valid zip archive"),
        (b"plain text, not a zip", DOCX_MIME, CorruptDocumentError, "not a valid zip archive"),
    ],
)
def test_bad_input_raises_a_specific_error(
    content: bytes, mime: str, error: type[ExtractionError], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        extract(content, mime)
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert not caught.value.retryable


def test_docx_without_main_part_is_corrupt() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(CorruptDocumentError, match=r"no word/document\.xml"):
        extract(buffer.getvalue(), DOCX_MIME)


def test_docx_with_broken_main_part_is_corrupt() -> None:
    with pytest.raises(CorruptDocumentError, match="DOCX content cannot be parsed"):
        extract(zip_bomb_docx(0), DOCX_MIME)  # word/document.xml is there but empty


def test_input_size_is_capped() -> None:
    with pytest.raises(DocumentTooLargeError, match="more than the 10485760 allowed") as caught:
        extract(b"a" * (10 * 1024 * 1024 + 1), "text/plain")
    assert caught.value.metadata == {"limit": "10485760"}


def test_extracted_text_is_capped() -> None:
    with pytest.raises(DocumentTooLargeError, match="over 100 characters"):
        extract(b"word " * 100, "text/plain", limits=ExtractionLimits(max_text_chars=100))


def test_docx_zip_bomb_is_refused_before_parsing() -> None:
    bomb = zip_bomb_docx(101 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(DecompressionLimitError, match=r"inflates to 105906\d+ bytes, more than 104857600"):
        extract(bomb, "application/octet-stream", filename="report.docx")


def test_docx_with_too_many_members_is_refused() -> None:
    with pytest.raises(DecompressionLimitError, match="members"):
        extract(make_docx(), DOCX_MIME, limits=ExtractionLimits(max_archive_members=3))


def test_pdf_stream_bomb_hits_the_decompression_cap() -> None:
    bomb = handwritten_pdf([text_stream("hello") + b" " * (4 * 1024 * 1024)], compress=True)
    assert len(bomb) < 20_000
    with pytest.raises(DecompressionLimitError, match="decompression limit"):
        extract(bomb, "application/pdf", limits=ExtractionLimits(max_decompressed_bytes=1024 * 1024))


def test_pdf_page_cap() -> None:
    pdf = handwritten_pdf([text_stream(f"Page {n} text.") for n in range(1, 6)])
    document = extract(pdf, "application/pdf", limits=ExtractionLimits(max_pages=2))
    assert [b.text for b in document.blocks] == ["Page 1 text.", "Page 2 text."]
    assert document.page_count == 5


def test_pdf_running_headers_and_page_numbers_are_dropped_and_hyphens_mended() -> None:
    pages = [
        text_stream("ACME CONFIDENTIAL", f"Body of page {n} talks about the ware-", "house in detail.", f"Page {n}")
        for n in range(1, 5)
    ]
    document = extract(handwritten_pdf(pages), "application/pdf")
    assert "CONFIDENTIAL" not in document.text
    assert [(b.page, b.text) for b in document.blocks] == [
        (n, f"Body of page {n} talks about the warehouse in detail.") for n in range(1, 5)
    ]
