"""Screenshots for the README: the register and a report, as headless Chromium shows them.

Usage (after scripts/demo): .venv/bin/python scripts/screenshots.py [records] [docs]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium  # noqa: E402


def main() -> None:
    records = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "records")
    docs = Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "docs")
    docs.mkdir(exist_ok=True)
    with chromium(1280, 760) as browser:
        browser.get((records / "index.html").as_uri())
        browser.save_screenshot(str(docs / "register.png"))
    with chromium(1000, 1400) as browser:
        browser.get((records / "2026-014" / "dokumen" / "id" / "laporan.html").as_uri())
        browser.save_screenshot(str(docs / "laporan.png"))
    # The filed PDF's first page, as poppler draws it (Debian's poppler-utils), when pdftoppm is there.
    pdf = records / "2026-014" / "dokumen" / "id" / "laporan.pdf"
    if shutil.which("pdftoppm") and pdf.exists():
        subprocess.run(["pdftoppm", "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(docs / "laporan-pdf")], check=True)
    print(f"written: {docs / 'register.png'}, {docs / 'laporan.png'}, {docs / 'laporan-pdf.png'}")


if __name__ == "__main__":
    main()
