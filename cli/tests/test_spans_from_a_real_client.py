"""The spans an instrumented application really writes load as the usage it really had: the
`openai` client, instrumented with OpenTelemetry's GenAI instrumentation for OpenAI, calls a
small OpenAI-compatible server on 127.0.0.1 that answers with known usage (prompt, cached and
reasoning tokens); the SDK's OTLP/JSON file exporter writes the spans; tally loads the file and
rolls it up, and the rollup holds exactly what the server answered."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import PROJECT_DIR, query, run_tally

pytest.importorskip("openai")
pytest.importorskip("opentelemetry.instrumentation.genai.openai")
pytest.importorskip("opentelemetry.exporter.otlp.json.file")

# model: (prompt, cached, completion, reasoning) tokens the server answers with
USAGE = {
    "gpt-4o-mini": (1200, 1000, 300, 0),
    "o3-mini": (800, 0, 2500, 2000),
}
CALLS = ["gpt-4o-mini", "o3-mini", "gpt-4o-mini"]

CLIENT = """
import sys
import openai
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

base_url, out, *models = sys.argv[1:]
provider = TracerProvider(resource=Resource.create({"service.name": "chat-app",
                                                   "tenant.id": "org_client"}))
provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(out)))
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer("chat-app")
client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
with tracer.start_as_current_span("handle request") as request:
    request.set_attribute("user.id", "u_42")
    for model in models:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    try:
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    except openai.APIStatusError:
        pass
provider.shutdown()
"""


class OpenAICompatibleServer:
    """POST /v1/chat/completions answers a completion with the model's USAGE; model `broken`
    gets a 500."""

    def __enter__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model = body["model"]
                if model not in USAGE:
                    self._reply(500, {"error": {"message": "upstream failed", "type": "server"}})
                    return
                prompt, cached, completion, reasoning = USAGE[model]
                self._reply(200, {
                    "id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion",
                    "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "hello"}}],
                    "usage": {
                        "prompt_tokens": prompt, "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                        "prompt_tokens_details": {"cached_tokens": cached},
                        "completion_tokens_details": {"reasoning_tokens": reasoning},
                    },
                })

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow  # a rollup and a client process: about two minutes on the 2-core machine
def test_an_instrumented_openai_client_s_spans_roll_up_to_the_usage_the_server_returned(
    clean_db, tmp_path
):
    spans = tmp_path / "spans-chat-app.jsonl"
    with OpenAICompatibleServer() as server:
        subprocess.run([sys.executable, "-c", CLIENT, server.base_url, str(spans), *CALLS],
                       check=True, cwd=PROJECT_DIR, capture_output=True, text=True)

    loaded = json.loads(run_tally("load", str(spans), "--json").stdout)["totals"]
    # three completions with usage; the parent span and the failed call have none
    assert (loaded["loaded"], loaded["quarantined"], loaded["skipped"]) == (3, 0, 2)
    run_tally("rollup")

    rows = query(clean_db, """
        select org_id, model_id, sum(request_count), sum(input_tokens),
               sum(cache_read_input_tokens), sum(output_tokens), sum(reasoning_tokens)
        from analytics.fct_usage_hourly group by org_id, model_id order by model_id""")
    expected = []
    for model in sorted(set(CALLS)):
        prompt, cached, completion, reasoning = USAGE[model]
        n = CALLS.count(model)
        expected.append(("org_client", model, n, n * prompt, n * cached, n * completion,
                         n * reasoning))
    assert rows == expected
    # latency from the spans' own times; the user from the parent span is not the call's
    assert query(clean_db, "select count(*) from raw.events where latency_ms >= 0"
                           " and status = 'success'")[0][0] == 3
