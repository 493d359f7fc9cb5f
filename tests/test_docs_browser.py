"""The docs site as a reader sees it: `tools/docs.py site` builds every page the way `make docs` does (every notebook executed,
processed by nbdev, rendered), and headless Chromium opens each one."""

import base64, json, re, shutil, subprocess, sys, time, urllib.request
from html.parser import HTMLParser
from pathlib import Path
import pytest
import websocket
import yaml
from conftest import ROOT

pytestmark = [pytest.mark.xdist_group("notebooks"), pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (`make sysdeps` says how to install it)")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
LEAKS = ("#|", "{target=", "output-file:", "In [", "Out [", "<!-- WARNING")  # what a page must never show as text


class VisibleText(HTMLParser):
    "The text a reader sees: everything outside head, script and style."

    def __init__(self):
        super().__init__()
        self.hidden, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("head", "script", "style")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("head", "script", "style")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible(dom: str) -> str:
    "The page's visible text, whitespace collapsed."
    p = VisibleText()
    p.feed(dom)
    return " ".join("".join(p.parts).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory, executed):
    "The whole site, built once from the session's executions of the notebooks (a scratch project keeps their outputs)."
    out = tmp_path_factory.mktemp("site")
    notebooks = sorted(p for p in executed.folder.rglob("*.ipynb") if not p.name.startswith(("_", ".")))
    failed = [str(nb.relative_to(executed.folder)) for nb in notebooks if not executed(str(nb.relative_to(executed.folder)))]
    assert not failed, f"notebooks that failed to execute: {failed} (tracebacks above)"
    r = subprocess.run(
        [sys.executable, "tools/docs.py", "site", "--out", str(out), "--executed", str(executed.folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "rendered" in r.stdout or "Quarto built" in r.stdout, r.stdout[-1000:]  # it says what it built
    return out


class Chromium:
    """One headless Chromium for the module's pages, driven over the DevTools protocol (a process per page cost 1-2 s of CPU
    each): a page's DOM once it has loaded (what `--dump-dom` prints, less the doctype line), or a screenshot of it."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file, deadline = profile / "DevToolsActivePort", time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):  # Chromium writes its port there once it listens
            assert self.proc.poll() is None and time.time() < deadline, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        [tab] = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list")) if t["type"] == "page"]
        self.ws, self.n, self.loaded = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=120, suppress_origin=True), 0, False
        self.call("Page.enable")

    def call(self, method: str, **params) -> dict:
        "Send a command; its result (the events before it are dropped, but a page's load is noted)."
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while (msg := json.loads(self.ws.recv())).get("id") != self.n:
            self.loaded |= msg.get("method") == "Page.loadEventFired"
        assert "error" not in msg, (method, msg["error"])
        return msg["result"]

    def open(self, page: Path):
        "Navigate to the page and wait for its load event."
        self.loaded = False
        self.call("Page.navigate", url=page.as_uri())
        while not self.loaded:
            self.loaded = json.loads(self.ws.recv()).get("method") == "Page.loadEventFired"

    def dom(self, page: Path) -> str:
        self.open(page)
        return self.call("Runtime.evaluate", expression="document.documentElement.outerHTML", returnByValue=True)["result"]["value"]

    def screenshot(self, page: Path, out: Path, width=1280, height=1000):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.open(page)
        out.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    browser = Chromium(tmp_path_factory.mktemp("profile"))
    yield browser
    browser.close()


def sidebar_pages() -> list[str]:
    "The notebooks of nbs/sidebar.yml, in order."

    def walk(entries):
        for e in entries:
            if isinstance(e, dict):
                yield from walk(e.get("contents", []))
            else:
                yield e

    return list(walk(yaml.safe_load((ROOT / "nbs/sidebar.yml").read_text())["website"]["sidebar"]["contents"]))


@needs_chromium  # before the site is built for nothing
def test_every_page_reads_like_a_docs_page(site, chromium):
    notebooks = sidebar_pages()
    pages = sorted(p.relative_to(site) for p in site.rglob("*.html"))
    assert len(pages) == len(notebooks) and Path("index.html") in pages, pages  # one page per notebook, index first
    for page in pages:
        d = chromium.dom(site / page)
        text = visible(d)
        assert len(text) > 500, page
        assert not [leak for leak in LEAKS if leak in text], (
            page,
            [text[max(0, text.find(x) - 100) : text.find(x) + 100] for x in LEAKS if x in text],
        )
        nav = d.split('id="sidebar"')[1].split("</nav>")[0]
        assert nav.count("<a ") == len(notebooks), page  # the sidebar lists every page
        for href in re.findall(r'href="([^"#:]+\.html)', d):  # and every local link lands
            assert (site / page).parent.joinpath(href).resolve().exists(), (page, href)
        for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', d):  # and every image loads: a file beside the page, or inline data
            f = (site / page).parent.joinpath(src)
            assert src.startswith("data:image/") or (f.is_file() and f.stat().st_size > 1000), (page, src)


@needs_chromium
def test_data_dictionary_page_opens_on_its_table_of_contents(site, chromium):
    page = site / "data_dictionary.html"
    d = chromium.dom(page)
    head, rest = d.split('<nav id="TOC"', 1)
    toc = rest.split("</nav>")[0]
    assert "Every data file of the project" in visible(head) and "<section" not in head  # what it is, then the contents
    files = [Path(e["path"]).name for e in json.loads((ROOT / "data/manifest.json").read_text())["files"]]
    assert len(files) >= 40 and [f for f in files if f"#{f.lower()}" not in toc] == []  # every file, one click away
    for f in files:
        assert f'id="{f.lower()}"' in d, f
    section = d.split('id="sp500_dataset_c.parquet"')[1].split("<section")[0]
    assert "<table" in section and "vix_percentile_60d" in section and "75%" in section
    assert "Lineage" in visible(d)
    shots = ROOT / "outputs"
    shots.mkdir(exist_ok=True)
    for name, p in (("docs_index.png", site / "index.html"), ("docs_data_dictionary.png", page)):
        chromium.screenshot(p, shots / name)
        assert (shots / name).stat().st_size > 10_000


def test_quarto_config_is_an_nbdev_website():
    "What Quarto reads where it is installed: nbdev's website config, with every file it names present."
    q = yaml.safe_load((ROOT / "nbs/_quarto.yml").read_text())
    assert q["project"]["type"] == "website" and q["format"]["html"]["toc"] is True
    assert (ROOT / "nbs" / q["format"]["html"]["css"]).exists()
    for f in q["metadata-files"]:
        assert (ROOT / "nbs" / f).exists(), f
    assert yaml.safe_load((ROOT / "nbs/nbdev.yml").read_text())["project"]["output-dir"] == "_docs"
