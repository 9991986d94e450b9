"""Documents the knowledge tests build themselves: DOCX with python-docx, PDF with fpdf2 or by hand, HTML, Markdown."""

from __future__ import annotations

import io
import zipfile
import zlib

import docx
from fpdf import FPDF

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

PRICING_HTML = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme Pricing</title>
  <style>body { color: red; } .secret { display: none }</style>
  <script>var trackingSecret = "do-not-index"; console.log("script text");</script>
</head>
<body>
  <header><a href="/">Acme logo</a><nav><a href="/a">Products</a> <a href="/b">Careers</a></nav></header>
  <div class="cookie-banner">We use cookies. Accept all?</div>
  <main>
    <h1>Pricing</h1>
    <p>Acme offers three plans.<br>Every plan includes support &amp; updates.</p>
    <h2>Enterprise</h2>
    <p>The <em>Enterprise</em> plan costs <strong>$99</strong> per seat and month.</p>
    <ul>
      <li>Single sign-on
        <ul><li>SAML</li><li>OIDC</li></ul>
      </li>
      <li>Audit logs</li>
    </ul>
    <h3>Limits</h3>
    <table>
      <tr><th>Plan</th><th>Seats</th></tr>
      <tr><td>Team</td><td>10</td></tr>
      <tr><td>Enterprise</td><td>unlimited</td></tr>
    </table>
    <pre><code>curl https://api.acme.test/v1/plans
  --header "Accept: application/json"</code></pre>
    <script>document.write("inline script in main")</script>
    <noscript>Enable JavaScript</noscript>
  </main>
  <aside>Related: our blog</aside>
  <footer>Copyright Acme Inc.</footer>
</body>
</html>
"""

HANDBOOK_MARKDOWN = """---
title: "Employee Handbook"
author: HR
---

# Welcome

We are glad you are here. Read this **handbook** before your first day.

## Holidays

Everyone gets 30 days of paid holiday per year.
Unused days expire in March.

- Public holidays are extra
- Sick days:
  1. Tell your manager
  2. Send a note after three days

## Tools

| Tool | Use |
|------|-----|
| Chat | Talking |
| Wiki | Writing |

```bash
make onboarding
```

<div class="note">Ask <b>IT</b> for a laptop.</div>

> Quoted wisdom lives here.
"""


def make_docx() -> bytes:
    """A DOCX with a title, two heading levels, a bulleted list, a numbered list, a table and a code paragraph."""
    document = docx.Document()
    document.core_properties.title = "Support Guide"
    document.add_heading("Support Guide", level=0)
    document.add_heading("Getting help", level=1)
    document.add_paragraph("Open a ticket from the dashboard. We answer within one business day.")
    document.add_paragraph("Email", style="List Bullet")
    document.add_paragraph("Phone", style="List Bullet")
    document.add_heading("Escalation", level=2)
    document.add_paragraph("Ask for the duty manager.", style="List Number")
    document.add_paragraph("Describe the impact.", style="List Number")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Severity"
    table.cell(0, 1).text = "Response"
    table.cell(1, 0).text = "Critical"
    table.cell(1, 1).text = "1 hour"
    document.add_heading("Refunds", level=1)
    document.add_paragraph("Refunds are paid back to the original card within ten days.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pdf(*, password: str | None = None) -> bytes:
    """A two-page PDF with an outline: "Installation" on page 1, "Configuration" on page 2."""
    pdf = FPDF()
    pdf.set_title("Operations Manual")
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.start_section("Installation", level=0)
    pdf.cell(text="Installation", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0,
        text="Download the installer from the portal. Run it as an administrator. The installer checks "
        "the system requirements before it copies any file.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.add_page()
    pdf.start_section("Configuration", level=0)
    pdf.cell(text="Configuration", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0,
        text="Edit the settings file to point the agent at your server. Restart the agent afterwards.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def handwritten_pdf(streams: list[bytes], *, compress: bool = False) -> bytes:
    """A minimal valid PDF, one page per content stream, with Helvetica as font F1 and a correct xref table."""
    count = len(streams)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
        + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, stream in enumerate(streams):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % (5 + 2 * index)
        )
        data = zlib.compress(stream, 9) if compress else stream
        extra = b" /Filter /FlateDecode" if compress else b""
        objects.append(b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_stream(*lines: str) -> bytes:
    """A content stream that shows `lines` (ASCII), one under the other, from the top of a page."""
    shown = b" T* ".join(b"(" + _escape(line).encode("ascii") + b") Tj" for line in lines)
    return b"BT /F1 12 Tf 14 TL 72 720 Td " + shown + b" ET"


def _escape(text: str) -> str:
    """`text` as the inside of a PDF literal string."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def zip_bomb_docx(inflated_bytes: int) -> bytes:
    """A zip with the DOCX part names whose word/document.xml inflates to `inflated_bytes` of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(inflated_bytes // len(block)):
                member.write(block)
    return buffer.getvalue()
