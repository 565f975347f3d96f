"""The service's dashboard route on its own (a FastAPI app with just that router): what it serves and refuses."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from harness.app.routes import dashboard


def client() -> TestClient:
    app = FastAPI()
    app.include_router(dashboard.router)
    return TestClient(app)


def test_serves_the_built_files_with_their_types() -> None:
    c = client()
    page = c.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="dashboard.js"' in page.text and 'id="root"' in page.text
    js = c.get("/dashboard/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 50_000
    assert c.get("/dashboard/dashboard.css").headers["content-type"].startswith("text/css")
    assert c.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/"


def test_nothing_outside_the_bundle() -> None:
    c = client()
    for name in ("../routes/dashboard.py", "..%2F..%2Fapp.py", "nope.js", "/etc/passwd"):
        r = c.get(f"/dashboard/{name}")
        assert r.status_code == 404, name
