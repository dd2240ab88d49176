"""A scripted OpenAI-compatible HTTP server for the backend's protocol and fault tests.

It speaks real HTTP and server-sent events on a free 127.0.0.1 port, so the ``openai`` SDK, its
retries and its stream parser run unchanged; what it replies is scripted per request. The tests
against a real engine (llama.cpp's server) are in test_server_backend.py.

    with StubServer(reply="你好 [1]") as server:
        server.script = ["429", "ok"]      # first request rate-limited, the retry answered
        OpenAI(base_url=server.url, ...)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    """Actions, one per chat request in order (then "ok"): "ok" streams ``reply``; "<status>" (e.g.
    "429", "503", "400") answers that HTTP status with an error body; "malformed" streams a line that
    is not JSON; "truncated" streams half the reply and closes without finishing; "error event" streams half the
    reply, then an error event as vLLM does when generation fails; "stall" waits
    ``stall_s`` before answering; "stall after headers" sends the headers, then waits ``stall_s``
    before the first piece (a server reading a long prompt)."""

    def __init__(self, reply: str = "好的 [1]", model: str = "stub-model", stall_s: float = 5.0):
        self.reply, self.model, self.stall_s = reply, model, stall_s
        self.script: list[str] = []
        self.requests: list[dict] = []  # JSON bodies of the chat requests received
        self.keys: list[str] = []  # their Authorization headers
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append(body)
                stub.keys.append(self.headers.get("Authorization", ""))
                action = stub.script.pop(0) if stub.script else "ok"
                if action.isdigit():
                    headers = {"Retry-After": "0"} if action in ("429", "503") else {}
                    self._json(int(action), {"error": {"message": f"scripted {action}", "type": "test"}}, headers)
                    return
                if action == "stall":
                    time.sleep(stub.stall_s)
                if body.get("model") not in (stub.model, "study"):
                    self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if action == "stall after headers":  # a server that accepted the request, then reads the prompt
                    self.wfile.flush()
                    time.sleep(stub.stall_s)
                text = stub.reply if action not in ("truncated", "error event") else stub.reply[: len(stub.reply) // 2]
                for i in range(0, len(text), 3):
                    self._event(self._chunk(text[i:i + 3], None))
                if action == "malformed":
                    self.wfile.write(b"data: {this is not json\n\n")
                elif action == "error event":
                    self._event({"error": {"message": "CUDA out of memory", "type": "InternalServerError"}})
                elif action != "truncated":
                    self._event(self._chunk("", "stop"))
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _chunk(self, text, finish):
                return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": stub.model,
                        "choices": [{"index": 0, "delta": {"content": text} if text else {},
                                     "finish_reason": finish}]}

            def _event(self, payload):
                self.wfile.write(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

            def _json(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that leaves mid-stream is expected
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
