"""`make sysdeps` where the users are: an account that cannot install system packages gets one line naming what is missing,
which tests will skip and how to install it, and the tests go on; apt is called only by root (or with passwordless sudo)."""

import os, shutil, subprocess, tempfile
from pathlib import Path
import pytest
from conftest import ROOT

SCRIPT = ROOT / "tools" / "sysdeps.sh"


def sysdeps(as_root: bool) -> tuple[subprocess.CompletedProcess, list[str]]:
    "Run the script with nothing installed (per its probes), apt-get and sudo replaced by stubs that record their calls and fail."
    d = Path(tempfile.mkdtemp(prefix="fints-sysdeps-"))
    os.chmod(d, 0o777)  # the unprivileged account writes its calls here
    calls = d / "calls"
    for tool in ("apt-get", "sudo"):
        (d / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit 1\n')
        os.chmod(d / tool, 0o755)
    env = {"PATH": f"{d}:/usr/bin:/bin", "HOME": str(d), "SYSDEPS_CHROMIUM": "no-such-chromium", "SYSDEPS_INITDB": "/no/such/initdb"}
    cmd = ["bash", str(SCRIPT), "/no/such/python"]
    if os.geteuid() == 0 and not as_root:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: no way to act as an unprivileged account")
        cmd = [shutil.which("runuser"), "-u", "nobody", "--", "env", *[f"{k}={v}" for k, v in env.items()], *cmd]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    return p, calls.read_text().splitlines() if calls.exists() else []


def test_the_makefile_runs_the_script():
    assert "tools/sysdeps.sh" in (ROOT / "Makefile").read_text()


@pytest.mark.skipif(os.geteuid() != 0 and os.system("sudo -n true 2>/dev/null") == 0, reason="this account has passwordless sudo")
def test_an_account_that_cannot_install_is_told_how_and_nothing_fails():
    p, calls = sysdeps(as_root=False)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.splitlines() == [
        "sysdeps: chromium and postgresql missing, and this account cannot install system packages: "
        "the browser tests and the PostgreSQL HPO test will skip (to run them: sudo apt-get install chromium postgresql)"
    ]
    assert [c for c in calls if c.startswith("apt-get")] == []  # apt never called; `sudo -n true` only asks whether it may


@pytest.mark.skipif(os.geteuid() != 0, reason="root only: installing is what root does")
def test_root_installs_with_apt_and_goes_on_when_apt_fails():
    p, calls = sysdeps(as_root=True)
    assert p.returncode == 0, p.stderr
    assert calls[:1] == ["apt-get update -qq"] and "apt could not install chromium postgresql" in p.stdout
