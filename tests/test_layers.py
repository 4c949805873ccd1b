"""The layering contract (pyproject.toml, run by scripts/test.sh as `lint-imports`) holds,
and it fails when the kernel imports a domain app — checked on a copy of the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _copy(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "data", "baseline")
    for package in ("apps", "config"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_layers_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_kernel_module_importing_a_domain_app_breaks_the_contract(tmp_path):
    tree = _copy(tmp_path)
    (tree / "apps" / "core" / "leaky.py").write_text(
        "def customer_count():\n"
        "    from apps.customers.models import Customer\n\n"
        "    return Customer.objects.count()\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "apps.core.leaky -> apps.customers.models" in result.stdout


def test_a_domain_app_importing_a_sibling_breaks_the_contract(tmp_path):
    tree = _copy(tmp_path)
    (tree / "apps" / "contracts" / "leaky.py").write_text("import apps.leads.models\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "apps.contracts.leaky -> apps.leads.models" in result.stdout
