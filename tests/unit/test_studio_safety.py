"""The studio keeps to its runs root and its own user: paths, token, Host and write checks over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from studio_helpers import serving, synthetic_run

from slmforge.orchestrate.studio.app import build_app
from slmforge.orchestrate.studio.safety import PathRefused, StudioError, check_bind, inside

WRITE = {"X-Studio": "1"}


def test_inside_refuses_parent_paths_absolute_paths_and_symlinks_out(tmp_path):
    root = tmp_path / "runs"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("x")
    (root / "a" / "out").symlink_to(tmp_path / "secret.txt")
    (root / "a" / "in").symlink_to(root / "a")
    assert inside(root, "a/in") == (root / "a").resolve()
    for bad in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt"), "a/out", ""):
        with pytest.raises(PathRefused):
            inside(root, bad)


def test_binding_beyond_loopback_without_a_token_is_refused_in_one_line(tmp_path):
    with pytest.raises(StudioError, match="needs --token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "s3cret")
    check_bind("127.0.0.1", None)
    out = subprocess.run([sys.executable, "-m", "slmforge", "studio", "--runs", str(tmp_path), "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "SLMFORGE_STUDIO_TOKEN": ""})
    assert out.returncode == 2 and "needs --token" in out.stderr and "Traceback" not in out.stderr


def test_no_file_outside_the_runs_root_is_served_through_dots_encoded_dots_or_a_symlink(tmp_path):
    root = tmp_path / "runs"
    run = synthetic_run(root, "r1")
    (tmp_path / "secret.txt").write_text("top secret")
    (run / "leak").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "outside_run").mkdir()
    (tmp_path / "outside_run" / "recipe.yaml").write_text("name: outside_run\n")
    (root / "linked_run").symlink_to(tmp_path / "outside_run")
    with serving(build_app(root)) as url:
        ok = httpx.get(f"{url}/api/run/file", params={"run": "r1", "path": "recipe.yaml"})
        assert ok.status_code == 200 and "name: r1" in ok.text
        for params in ({"run": "r1", "path": "../../secret.txt"}, {"run": "r1", "path": "leak"}, {"run": "..", "path": "secret.txt"},
                       {"run": "r1", "path": str(tmp_path / "secret.txt")}, {"run": "linked_run", "path": "recipe.yaml"}):
            response = httpx.get(f"{url}/api/run/file", params=params)
            assert response.status_code in (403, 404), params
            assert "top secret" not in response.text
        raw = httpx.get(f"{url}/api/run/file?run=r1&path=%2e%2e%2f%2e%2e%2fsecret.txt")
        assert raw.status_code == 403 and "outside the runs root" in raw.json()["error"]
        assert httpx.get(f"{url}/api/run", params={"run": "../"}).status_code == 403
        assert [r["id"] for r in httpx.get(f"{url}/api/runs").json()["runs"]] == ["r1"]  # the symlinked run is not listed


def test_an_upload_named_with_dots_lands_in_the_studio_uploads_folder(tmp_path):
    root = tmp_path / "runs"
    with serving(build_app(root)) as url:
        response = httpx.put(f"{url}/api/upload", params={"name": "../../../evil.jsonl"}, headers=WRITE,
                             content=b'{"input": "a", "output": "b"}\n')
        assert response.status_code == 200, response.text
        saved = response.json()["path"]
        assert saved == str((root / "_studio" / "uploads" / "evil.jsonl").resolve())
        assert not (tmp_path / "evil.jsonl").exists()
        assert response.json()["format"] == "pairs" and response.json()["resolved"]["data"]["path"] == saved
        refused = httpx.put(f"{url}/api/upload", params={"name": "run.sh"}, headers=WRITE, content=b"rm -rf /")
        assert refused.status_code == 400 and "must be .jsonl" in refused.json()["error"]


def test_writes_need_the_studio_header_and_the_same_origin(tmp_path):
    root = tmp_path / "runs"
    synthetic_run(root, "r1")
    with serving(build_app(root)) as url:
        # A cross-site form post cannot send a custom header: refused before anything runs.
        assert httpx.post(f"{url}/api/run/resume", params={"run": "r1"}).status_code == 403
        evil = httpx.post(f"{url}/api/run/resume", params={"run": "r1"}, headers={**WRITE, "Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert not (root / "_studio" / "jobs").exists()


def test_loopback_mode_refuses_a_foreign_host_name(tmp_path):
    # DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example.
    with serving(build_app(tmp_path / "runs")) as url:
        assert httpx.get(f"{url}/api/runs", headers={"Host": "evil.example:7860"}).status_code == 421
        assert httpx.get(f"{url}/api/runs", headers={"Host": "localhost:7860"}).status_code == 200


def test_with_a_token_every_page_and_api_call_needs_it(tmp_path):
    root = tmp_path / "runs"
    synthetic_run(root, "r1")
    with serving(build_app(root, token="s3cret-token", loopback=False)) as url:
        for path in ("/", "/api/runs", "/static/js/app.js", "/api/run/file?run=r1&path=recipe.yaml"):
            assert httpx.get(url + path).status_code == 401, path
        assert httpx.get(f"{url}/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/api/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        link = httpx.get(f"{url}/?token=s3cret-token", follow_redirects=False)
        assert link.status_code == 303 and link.headers["location"] == "/"
        assert "HttpOnly" in link.headers["set-cookie"] and "SameSite=Strict" in link.headers["set-cookie"]
        with httpx.Client(base_url=url, cookies={"slmforge_studio": "s3cret-token"}) as client:
            assert client.get("/api/runs").json()["runs"][0]["id"] == "r1"
            page = client.get("/")
            assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
        assert httpx.get(f"{url}/api/runs", cookies={"slmforge_studio": "s3cret-tokex"}).status_code == 401
