"""The dashboard's TypeScript: its unit tests (node's test runner) and proof that the shipped
bundle in harness/app/static/dashboard is exactly what the sources and the lockfile build."""

from __future__ import annotations

import filecmp
from pathlib import Path

from .conftest import SHIPPED, npm, run


def test_estimator_and_sync_unit_tests_pass(frontend_copy: Path) -> None:
    proc = run([npm(), "test"], frontend_copy)
    out = proc.stdout
    assert "# fail 0" in out, out[-3000:]
    passed = int(out.split("# pass ")[1].split()[0])
    assert passed >= 15, f"only {passed} TypeScript tests ran"


def test_shipped_bundle_is_built_from_the_sources(frontend_copy: Path, tmp_path: Path) -> None:
    run([npm(), "run", "typecheck"], frontend_copy)
    out = tmp_path / "dashboard"
    run(["node", "build.mjs", "--out", str(out)], frontend_copy)
    built = sorted(p.name for p in out.iterdir())
    shipped = sorted(p.name for p in SHIPPED.iterdir())
    assert built == shipped, f"built {built}, shipped {shipped}"
    differ = [n for n in built if not filecmp.cmp(out / n, SHIPPED / n, shallow=False)]
    assert not differ, (f"{', '.join(differ)} differ from a fresh build: rebuild with "
                        "`cd frontend && npm ci && npm run build` and commit harness/app/static/dashboard")
    assert (SHIPPED / "dashboard.js").stat().st_size > 50_000  # React and the app, not an empty stub
