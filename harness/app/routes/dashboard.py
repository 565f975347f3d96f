"""The dashboard: the built bundle of frontend/ (harness/app/static/dashboard), served as static files.

Only the files the build wrote are served (no path from the request reaches the file system), and
/dashboard redirects to /dashboard/ so the page's relative links resolve.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from harness.app.schemas import responses

DASHBOARD = Path(__file__).resolve().parents[1] / "static" / "dashboard"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".png": "image/png", ".svg": "image/svg+xml", ".json": "application/json"}  # fmt: skip

router = APIRouter()


def _files() -> dict[str, Path]:
    if not DASHBOARD.is_dir():
        return {}
    return {p.name: p for p in DASHBOARD.iterdir() if p.is_file() and p.suffix in TYPES}


@router.get("/dashboard", include_in_schema=False)
async def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=308)


@router.get("/dashboard/{name:path}", summary="The trading dashboard (React + TypeScript, built from frontend/)",
            responses=responses(404))
async def dashboard_file(name: str) -> FileResponse:
    files = _files()
    path = files.get(name or "index.html")
    if path is None:
        if not files:
            raise HTTPException(404, "the dashboard is not built: cd frontend && npm ci && npm run build")
        raise HTTPException(404, f"no dashboard file {name!r}")
    # The page is small and rebuilt with the code: never let a browser run yesterday's bundle.
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"cache-control": "no-cache"})
