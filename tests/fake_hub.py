"""A tiny in-memory Hugging Face Hub on 127.0.0.1, so the real ``huggingface_hub`` client can be tested offline.

It answers exactly the endpoints ``huggingface_hub`` 2.x calls for our download and upload paths:

download
    GET  /api/models/{owner}/{name}[/revision/{rev}]   repo info: commit sha + file list (siblings)
    GET  /api/models/{owner}/{name}/tree/{rev}[/path]  file listing (used by snapshot_download)
    HEAD /{owner}/{name}/resolve/{rev}/{path}          X-Repo-Commit, ETag, Content-Length
    GET  /{owner}/{name}/resolve/{rev}/{path}          the bytes
upload
    POST /api/repos/create                             {"name", "organization", "visibility"}
    POST /api/models/{owner}/{name}/branch/{branch}    new branch from main (or "startingPoint")
    POST /api/validate-yaml                            README metadata check (always fine)
    POST /api/models/{owner}/{name}/preupload/{rev}    every file is "regular" (base64 in the commit, no LFS/Xet)
    POST /api/models/{owner}/{name}/commit/{rev}       NDJSON: header + file lines → a new commit

Errors carry the ``X-Error-Code`` header (RepoNotFound, RevisionNotFound, EntryNotFound) the client
maps to its exception classes. Every request is recorded in ``hub.requests`` (method, path) so a test
can assert that no request was made; anything unknown is answered 404 and listed in ``hub.unhandled``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # branch or tag → commit sha
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha → {path: bytes}
    messages: dict[str, str] = field(default_factory=dict)  # commit sha → summary


class FakeHub:
    """In-memory repos + an HTTP server thread. ``with FakeHub() as hub: hub.url …``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- repo state (tests call these directly) -------------------------------------------------
    def create_repo(self, repo_id: str, private: bool = False) -> Repo:
        with self._lock:
            if repo_id not in self.repos:
                repo = Repo(repo_id, private)
                sha = self._new_sha()
                repo.commits[sha] = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
                repo.branches["main"] = sha
                repo.messages[sha] = "initial commit"
                self.repos[repo_id] = repo
            return self.repos[repo_id]

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main", message: str = "update",
               deleted: tuple[str, ...] = ()) -> str:
        """Add or replace ``files`` on ``branch`` (created from main if new); returns the new commit sha."""
        repo = self.create_repo(repo_id)
        with self._lock:
            parent = repo.branches.get(branch) or repo.branches["main"]
            tree = dict(repo.commits[parent])
            for path in deleted:
                tree.pop(path, None)
            tree.update(files)
            sha = self._new_sha()
            repo.commits[sha] = tree
            repo.messages[sha] = message
            repo.branches[branch] = sha
            return sha

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[self.resolve(repo, revision)]

    def resolve(self, repo: Repo, revision: str) -> str | None:
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.commits:
            return revision
        return None

    def paths_requested(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.requests if method is None or m == method]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.unhandled.clear()

    def _new_sha(self) -> str:
        return hashlib.sha1(f"fake-hub-commit-{next(self._counter)}".encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"  # keep-alive, as the real Hub; every answer carries Content-Length

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict[str, str] | None = None, head: bool = False) -> None:
        self._send(status, json.dumps(data).encode(), headers, head=head)

    def _error(self, status: int, code: str | None, message: str, extra: dict[str, str] | None = None,
               head: bool = False) -> None:
        headers = dict(extra or {})
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._json(status, {"error": message}, headers, head=head)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _segments(self) -> tuple[list[str], str]:
        parts = urlsplit(self.path)
        return [unquote(s) for s in parts.path.split("/")[1:]], parts.query

    def _record(self) -> None:
        with self.hub._lock:
            self.hub.requests.append((self.command, urlsplit(self.path).path))
            self.hub.headers.append({k.lower(): v for k, v in self.headers.items()})

    def _repo(self, owner: str, name: str, head: bool = False) -> Repo | None:
        repo = self.hub.repos.get(f"{owner}/{name}")
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head=head)
        return repo

    def _unhandled(self, head: bool = False) -> None:
        with self.hub._lock:
            self.hub.unhandled.append((self.command, self.path))
        self._error(404, None, f"fake hub: no route for {self.command} {self.path}", head=head)

    # -- verbs -----------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._record()
        seg, _ = self._segments()
        if len(seg) >= 5 and seg[2] == "resolve":
            return self._resolve(seg, head=True)
        self._unhandled(head=True)

    def do_GET(self) -> None:
        self._record()
        seg, query = self._segments()
        if len(seg) >= 5 and seg[2] == "resolve":
            return self._resolve(seg, head=False)
        if seg[:2] == ["api", "models"] and len(seg) >= 4:
            if len(seg) == 4:
                return self._info(seg[2], seg[3], "main")
            if seg[4] == "revision" and len(seg) >= 6:
                return self._info(seg[2], seg[3], "/".join(seg[5:]))
            if seg[4] == "tree" and len(seg) >= 6:
                return self._tree(seg[2], seg[3], seg[5], "/".join(seg[6:]))
        if seg == ["api", "agent-harnesses"]:
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        self._unhandled()

    def do_POST(self) -> None:
        self._record()
        seg, query = self._segments()
        body = self._body()
        if seg == ["api", "repos", "create"]:
            return self._create_repo(json.loads(body or b"{}"))
        if seg == ["api", "validate-yaml"]:
            return self._json(200, {"errors": [], "warnings": []})
        if seg[:2] == ["api", "models"] and len(seg) >= 6:
            owner, name, action, rev = seg[2], seg[3], seg[4], "/".join(seg[5:])
            if action == "preupload":
                return self._preupload(owner, name, rev, json.loads(body or b"{}"))
            if action == "commit":
                return self._commit(owner, name, rev, body)
            if action == "branch":
                return self._branch(owner, name, rev, json.loads(body or b"{}"))
        self._unhandled()

    # -- download endpoints ---------------------------------------------------------------------
    def _info(self, owner: str, name: str, revision: str) -> None:
        repo = self._repo(owner, name)
        if repo is None:
            return
        sha = self.hub.resolve(repo, revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = repo.commits[sha]
        self._json(200, {
            "_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "sha": sha, "private": repo.private,
            "tags": [], "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": p, "size": len(d), "blobId": git_blob_sha(d)} for p, d in sorted(files.items())],
        })

    def _tree(self, owner: str, name: str, revision: str, prefix: str) -> None:
        repo = self._repo(owner, name)
        if repo is None:
            return
        sha = self.hub.resolve(repo, revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        entries = [{"type": "file", "path": p, "size": len(d), "oid": git_blob_sha(d)}
                   for p, d in sorted(repo.commits[sha].items()) if not prefix or p.startswith(prefix.rstrip("/") + "/")]
        self._json(200, entries)

    def _resolve(self, seg: list[str], head: bool) -> None:
        owner, name, revision, path = seg[0], seg[1], seg[3], "/".join(seg[4:])
        repo = self._repo(owner, name, head=head)
        if repo is None:
            return
        sha = self.hub.resolve(repo, revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
        data = repo.commits[sha].get(path)
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": sha}, head=head)
        self._send(200, data, {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha(data)}"', "Accept-Ranges": "none"},
                   content_type="application/octet-stream", head=head)

    # -- upload endpoints -----------------------------------------------------------------------
    def _create_repo(self, payload: dict) -> None:
        name, org = payload.get("name"), payload.get("organization")
        if not name or not org:
            return self._error(400, None, "name and organization are required")
        repo_id = f"{org}/{name}"
        url = f"{self.hub.url}/{repo_id}"
        if repo_id in self.hub.repos:
            return self._json(409, {"error": "You already created this model repo", "url": url},
                              {"X-Error-Message": "You already created this model repo"})
        self.hub.create_repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        self._json(200, {"url": url, "name": repo_id})

    def _branch(self, owner: str, name: str, branch: str, payload: dict) -> None:
        repo = self._repo(owner, name)
        if repo is None:
            return
        if branch in repo.branches:
            return self._error(409, None, f"Reference already exists: refs/heads/{branch}")
        start = self.hub.resolve(repo, payload.get("startingPoint") or "main")
        if start is None:
            return self._error(404, "RevisionNotFound", "Invalid starting point")
        with self.hub._lock:
            repo.branches[branch] = start
        self._json(200, {})

    def _preupload(self, owner: str, name: str, revision: str, payload: dict) -> None:
        repo = self._repo(owner, name)
        if repo is None:
            return
        sha = self.hub.resolve(repo, revision)
        current = repo.commits[sha] if sha else {}
        files = []
        for f in payload.get("files", []):
            existing = current.get(f["path"])
            files.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_sha(existing) if existing is not None else None})
        self._json(200, {"files": files, "commitOid": sha})

    def _commit(self, owner: str, name: str, revision: str, body: bytes) -> None:
        repo = self._repo(owner, name)
        if repo is None:
            return
        if self.hub.resolve(repo, revision) is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files: dict[str, bytes] = {}
        deleted: list[str] = []
        summary = "commit"
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", summary)
            elif key == "file":
                if value.get("encoding") != "base64":
                    return self._error(400, None, "fake hub: only base64 file content is supported")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                deleted.append(value["path"])
            else:  # lfsFile, deletedFolder, copies: the preupload answer never asks for them
                return self._error(400, None, f"fake hub: commit operation {key!r} is not supported")
        sha = self.hub.commit(repo.repo_id, files, branch=revision, message=summary, deleted=tuple(deleted))
        self._json(200, {"commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{sha}", "commitOid": sha,
                         "pullRequestUrl": None, "success": True})
