"The data dictionary as a reader sees it: the docs page built by tools/docs.py, opened in headless Chromium."
import shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (`make test` installs it with apt where it can)")
def test_data_dictionary_page_in_chromium(tmp_path):
    site = tmp_path/"site"
    r = subprocess.run([sys.executable, "tools/docs.py", "site", "--only", "02_data_dictionary.ipynb", "--out", str(site)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    page = site/"02_data_dictionary.html"
    assert page.exists(), r.stdout
    profile = ["--user-data-dir=" + str(tmp_path/"profile")]
    dom = subprocess.run([CHROMIUM, *FLAGS, *profile, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "SP500_dataset_c.parquet" in dom and "Feature categories" in dom
    section = dom.split('id="SP500_dataset_c.parquet"')[1].split("<h3")[0]
    assert "<table" in section and "vix_percentile_60d" in section and "75%" in section
    shot = ROOT/"outputs"/"data_dictionary.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run([CHROMIUM, *FLAGS, *profile, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
