"""The systemd units the repo ships (deploy/systemd/): systemd itself accepts them, every
command they run exists, and the long-running ones restart by themselves (issue 11)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

UNITS = ROOT / "deploy" / "systemd"
INSTALL_ROOT = "/srv/imageshield"


def _units() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in {".service", ".timer"})


def _parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser


def test_systemd_accepts_every_unit(tmp_path):
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze (apt-get install systemd)")
    # Point the units at this checkout so systemd can check that the programs exist.
    for unit in _units():
        text = unit.read_text().replace(INSTALL_ROOT, str(ROOT))
        (tmp_path / unit.name).write_text(text)
    names = [str(tmp_path / u.name) for u in _units() if "@" not in u.name]
    names.append(str(tmp_path / "imageshield-worker@1.service"))
    (tmp_path / "imageshield-worker@1.service").write_text((tmp_path / "imageshield-worker@.service").read_text())
    result = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=120,
                            check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                # This machine has no imageshield user and no PostgreSQL/Redis units by those names.
                if line.strip() and "imageshield" in line and "User" not in line
                and "postgresql.service" not in line and "redis-server.service" not in line]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("unit", [p.name for p in _units() if p.suffix == ".service"])
def test_each_command_exists(unit):
    service = _parse(UNITS / unit)["Service"]
    argv = shlex.split(service["ExecStart"])
    if argv[0].endswith("/python"):
        assert argv[1] == "manage.py"
        result = subprocess.run([sys.executable, "manage.py", "help", argv[2]], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
    else:
        assert argv[0].endswith("/gunicorn")
        config = argv[argv.index("--config") + 1].replace(INSTALL_ROOT, str(ROOT))
        assert Path(config).is_file(), config


@pytest.mark.parametrize("unit", ["imageshield-web.service", "imageshield-worker@.service"])
def test_long_running_units_restart_by_themselves(unit):
    parsed = _parse(UNITS / unit)
    assert parsed["Service"]["Restart"] == "always"
    assert float(parsed["Service"]["RestartSec"]) <= 2
    assert parsed["Unit"]["StartLimitIntervalSec"] == "0"


def test_every_oneshot_has_a_timer():
    for service in UNITS.glob("*.service"):
        if _parse(service)["Service"].get("Type") == "oneshot":
            assert (UNITS / (service.stem + ".timer")).is_file(), service.name


def test_the_partner_pool_is_where_nginx_sends_the_api_and_has_the_smaller_cpu_share():
    """The bulkhead (bench/resilience.py): nginx proxies /api/v1/ to the port the partner unit
    binds, and that unit yields the CPU to the survivors' web unit when both are busy."""
    import re

    partner = _parse(UNITS / "imageshield-partner.service")["Service"]
    web = _parse(UNITS / "imageshield-web.service")["Service"]
    bind = re.search(r"GUNICORN_BIND=(\S+)", partner["Environment"]).group(1)
    nginx = (ROOT / "deploy" / "nginx" / "imageshield.conf").read_text()
    upstream = re.search(r"upstream imageshield_partner \{\s*server ([^;]+);", nginx).group(1)
    assert bind == upstream == "127.0.0.1:8001"
    assert re.search(r"location /api/v1/ \{\s*proxy_pass http://imageshield_partner;", nginx)
    assert int(partner["CPUWeight"]) < int(web.get("CPUWeight", "100"))
    assert int(partner["Nice"]) > int(web.get("Nice", "0"))
    # The web unit keeps the default bind (8000), which the other upstream names.
    assert "GUNICORN_BIND" not in web.get("Environment", "")
    assert re.search(r"upstream imageshield_app \{\s*server 127\.0\.0\.1:8000;", nginx)
