"""A tiny Kubernetes API server over HTTP, enough for the calls cluster mode makes.

It serves what the real one would for these paths, so the official client's
requests (paths, query, content type, body) and its parsing of responses
are exercised for real: GET /api/v1/nodes (paged with `limit`/`continue`),
GET /api/v1/namespaces/{ns}/pods (paged, filtered by an equality `labelSelector`),
GET and PATCH (JSON patch only) /apis/ray.io/v1/namespaces/{ns}/rayclusters/{name}.
Every request is recorded for assertions.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RAYCLUSTER = re.compile(r"^/apis/ray\.io/v1/namespaces/([^/]+)/rayclusters/([^/]+)$")
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods$")


class FakeApiServer:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.rayclusters: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        """Pod objects by namespace."""
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_port}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    # -- the API ---------------------------------------------------------------

    def list_nodes(self, query: dict[str, list[str]]) -> tuple[int, dict]:
        limit = int(query.get("limit", ["0"])[0]) or len(self.nodes) or 1
        start = int(query.get("continue", ["0"])[0] or 0)
        page = self.nodes[start : start + limit]
        more = start + limit < len(self.nodes)
        metadata = {"resourceVersion": "1", **({"continue": str(start + limit)} if more else {})}
        return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": metadata, "items": page}

    def list_pods(self, ns: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        selector = query.get("labelSelector", [""])[0]
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        found = [p for p in self.pods.get(ns, []) if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
        limit = int(query.get("limit", ["0"])[0]) or len(found) or 1
        start = int(query.get("continue", ["0"])[0] or 0)
        more = start + limit < len(found)
        metadata = {"resourceVersion": "1", **({"continue": str(start + limit)} if more else {})}
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": found[start : start + limit]}

    def get_raycluster(self, ns: str, name: str) -> tuple[int, dict]:
        found = self.rayclusters.get((ns, name))
        if not found:
            return _status(404, "NotFound", f'rayclusters.ray.io "{name}" not found')
        return 200, copy.deepcopy(found)

    def patch_raycluster(self, ns: str, name: str, content_type: str, body: Any) -> tuple[int, dict]:
        if content_type != "application/json-patch+json" or not isinstance(body, list):
            return _status(415, "UnsupportedMediaType", f"expected a JSON patch, got {content_type}")
        found = self.rayclusters.get((ns, name))
        if not found:
            return _status(404, "NotFound", f'rayclusters.ray.io "{name}" not found')
        doc = copy.deepcopy(found)
        for op in body:
            *parents, last = op["path"].lstrip("/").split("/")
            target: Any = doc
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            key: Any = int(last) if isinstance(target, list) else last
            if op["op"] == "test" and target[key] != op["value"]:
                return _status(422, "Invalid", f"the server rejected our request: test failed at {op['path']}")
            if op["op"] in ("add", "replace"):
                target[key] = op["value"]
        doc["metadata"]["generation"] = doc["metadata"].get("generation", 1) + 1
        self.rayclusters[(ns, name)] = doc
        return 200, copy.deepcopy(doc)


def _status(code: int, reason: str, message: str) -> tuple[int, dict]:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
    return code, {**status, "message": message, "reason": reason, "code": code}


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test output is the record

        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            content_type = (self.headers.get("Content-Type") or "").split(";")[0]
            with server._lock:
                server.requests.append(
                    {"method": method, "path": url.path, "query": query, "content_type": content_type, "body": body}
                )
                match = RAYCLUSTER.match(url.path)
                pods = PODS.match(url.path)
                if method == "GET" and url.path == "/api/v1/nodes":
                    code, payload = server.list_nodes(query)
                elif method == "GET" and pods:
                    code, payload = server.list_pods(pods.group(1), query)
                elif method == "GET" and match:
                    code, payload = server.get_raycluster(*match.groups())
                elif method == "PATCH" and match:
                    code, payload = server.patch_raycluster(*match.groups(), content_type, body)
                else:
                    code, payload = _status(404, "NotFound", f"no route for {method} {url.path}")
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_PATCH(self) -> None:
            self._answer("PATCH")

    return Handler


def node_json(name: str, labels: dict[str, str], gpus: int) -> dict[str, Any]:
    allocatable = {"cpu": "16", "memory": "64Gi", "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "uid": f"uid-{name}"},
        "status": {"allocatable": allocatable, "capacity": allocatable},
    }


def pod_json(name: str, labels: dict[str, str], ip: str | None, phase: str, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shotfarm", "labels": labels, "uid": f"uid-{name}"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["podIP"] = ip
    container = {"name": "ray-worker", "image": "shotfarm"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [container]}, "status": status}
