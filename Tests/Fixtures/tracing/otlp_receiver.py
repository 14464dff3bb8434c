"""An OTLP/HTTP trace receiver for the tracing tests: decodes each ExportTraceServiceRequest (protobuf) posted to
/v1/traces and appends one JSON line per span to a file.

usage: otlp_receiver.py SPANS_FILE [--hang]
Prints "listening 127.0.0.1:PORT" once it listens (port 0: a free one). With --hang it reads each request and never
answers (a receiver that is broken), so that the exporters' time-outs and queues are what is tested.
It exits when its standard input closes, so that it never outlives the test that started it.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def main():
    path = sys.argv[1]
    hang = "--hang" in sys.argv[2:]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if hang:
                time.sleep(3600)
                return
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                self.send_error(404 if self.path != "/v1/traces" else 415)
                return
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            lines = []
            for resource_spans in request.resource_spans:
                resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        lines.append(json.dumps({
                            "service": resource.get("service.name"),
                            "name": span.name,
                            "kind": KINDS.get(span.kind, str(span.kind)),
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                            "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in span.links],
                            "status": {0: "unset", 1: "ok", 2: "error"}.get(span.status.code),
                            "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                        }))
            with lock, open(path, "a") as out:
                for line in lines:
                    out.write(line + "\n")
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the test closes it (or exits)


if __name__ == "__main__":
    main()
