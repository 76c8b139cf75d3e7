"""The SOX report as a person sees it: the HTML renders in headless Chromium, the PDF opens in poppler.

Needs Debian's `chromium` and `poppler-utils` (installed by the CI setup); each test skips with the
reason when its tool is absent. The screenshots stay in the test's tmp folder for a look.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib import image

from reports.sox import write_sox_report
from test_controls_exceptions import END, START
from test_report_golden import build_report_state

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"{' or '.join(names)} not installed (apt-get install -y chromium poppler-utils)")


def _ink(png: Path) -> tuple[float, int]:
    """(share of pixels that are not near-white, number of distinct colours) of a PNG."""
    pixels = image.imread(str(png))[..., :3]
    inked = (pixels < 0.92).any(axis=-1).mean()
    colours = len({tuple(p) for p in (pixels[::7, ::7] * 255).astype(int).reshape(-1, 3).tolist()})
    return float(inked), colours


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("render")
    pipe = build_report_state(work, f"sqlite:///{work / 'state.db'}")
    return write_sox_report(pipe, START, END, work / "report")


def test_html_report_renders_in_headless_chromium(report, tmp_path):
    chromium = _tool("chromium", "chromium-browser")
    shot = tmp_path / "report.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot; chromium said: {proc.stderr[-2000:]}"
    inked, colours = _ink(shot)
    # a blank or error page is almost all white in one or two colours; the report has text, charts, tables
    assert inked > 0.05 and colours > 20, (inked, colours)
    page = report.read_text()
    assert "schedule:daily@2026-10-04:missed" in page and "false_positive" in page
    assert page.count("data:image/png;base64,") == 3


def test_pdf_report_opens_and_page_one_renders(report, tmp_path):
    pdftoppm = _tool("pdftoppm")
    pdf = report.parent / "report.pdf"
    subprocess.run([pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 1
    inked, _ = _ink(pages[0])
    assert inked > 0.005, inked
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    count = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert count >= 6   # title, three charts, per-control tally, exceptions, changes, silences


# Measures the laid-out page in Chromium and writes the numbers into the DOM that --dump-dom prints.
_WIDTH_PROBE = """<script>
const tables = [...document.querySelectorAll("table.t")].map(t => ({
  right: Math.ceil(t.getBoundingClientRect().right), scroll: t.scrollWidth, client: t.clientWidth,
  header: t.querySelector("th") ? [...t.querySelectorAll("th")].map(h => h.textContent).join(",") : ""}));
const out = document.createElement("pre"); out.id = "mq-width-probe";
out.textContent = JSON.stringify({page: document.documentElement.scrollWidth, window: window.innerWidth, tables});
document.body.appendChild(out);
</script>"""


def test_every_table_fits_a_1280_px_window(report, tmp_path):
    """No table (the controls table with its definition hashes included) runs past the window's right
    edge or needs a scroll bar to show its last column."""
    import json
    import re

    chromium = _tool("chromium", "chromium-browser")
    probe = report.parent / "width_probe.html"
    probe.write_text(report.read_text().replace("</body>", _WIDTH_PROBE + "</body>"))
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1280,2000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="mq-width-probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no measurement; chromium said: {proc.stderr[-2000:]}"
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["window"] == 1280
    assert measured["page"] <= measured["window"], measured["page"]
    controls = [t for t in measured["tables"] if "definition_hash" in t["header"]]
    assert controls, "the controls table is missing"
    for t in measured["tables"]:
        assert t["right"] <= measured["window"] and t["scroll"] <= t["client"] + 1, t


def test_no_empty_chart_box_when_nothing_is_signed_off(tmp_path):
    from test_controls_exceptions import make_pipeline

    pipe = make_pipeline(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    page = write_sox_report(pipe, START, END, tmp_path / "report").read_text()
    assert 'alt="time to disposition"' not in page
    assert "No exception has been signed off in this period" in page
