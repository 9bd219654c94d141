"""A real S3-compatible server on 127.0.0.1 for tests: moto's server, with a request log.

moto implements the S3 REST protocol; we serve its WSGI app ourselves (werkzeug, in a thread) so
that tests can count the requests a build makes (how many LIST calls a BIDS crawl needs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

KEY, SECRET, REGION = "testing-key", "testing-secret", "us-east-1"


@dataclass(frozen=True)
class S3Request:
    method: str
    path: str
    query: str

    @property
    def is_list(self) -> bool:
        return self.method == "GET" and ("list-type=" in self.query or self.path.count("/") <= 1)


class S3Server:
    def __init__(self) -> None:
        self.requests: list[S3Request] = []
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._logged(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _logged(self, app: Any) -> Any:
        def wrapper(environ: dict, start_response: Any) -> Any:
            with self._lock:
                self.requests.append(
                    S3Request(
                        environ["REQUEST_METHOD"],
                        environ["PATH_INFO"],
                        environ.get("QUERY_STRING", ""),
                    )
                )
            return app(environ, start_response)

        return wrapper

    def start(self) -> S3Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def lists(self, prefix: str = "") -> list[S3Request]:
        return [r for r in self.requests if r.is_list and prefix in r.path + "?" + r.query]
