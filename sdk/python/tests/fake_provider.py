"""A fake OpenAI + Anthropic HTTP API on 127.0.0.1, speaking their wire formats (JSON and SSE streams).

Behaviour is chosen by the request's `model`: "*-error" answers 429 with the provider's error body,
"*-tools" answers with a tool call, "*-stream-error" fails in the middle of a stream.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterable, List, Optional, Tuple

TEXT_PIECES = ["Hel", "lo", " world"]
TOOL_ARGS = ['{"city"', ': "Paris"}']


class FakeProvider:
    """Start with `FakeProvider()`, point clients at `.openai_url` / `.anthropic_url`, `close()` at the end."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: List[Dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                provider.requests.append({"path": self.path, "body": body})
                if provider.delay:
                    time.sleep(provider.delay)
                route = {"/v1/chat/completions": provider._chat, "/v1/responses": provider._responses,
                         "/v1/messages": provider._messages}.get(self.path.split("?")[0])
                if route is None:
                    return self._json(404, {"error": {"message": "not found"}})
                status, payload, events = route(body)
                if events is None:
                    return self._json(status, payload)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    chunk = (f"event: {name}\n" if name else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                self.close_connection = True

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- OpenAI chat completions ---------------------------------------------------------------------

    def _chat(self, body: Dict[str, Any]) -> Tuple[int, Any, Optional[Iterable]]:
        model = body.get("model", "")
        if model.endswith("-error") and not model.endswith("-stream-error"):
            return 429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}, None
        tools = model.endswith("-tools")
        usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                 "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}
        base = {"id": "chatcmpl-1", "created": 1700000000, "model": model + "-2024"}
        if not body.get("stream"):
            message: Dict[str, Any] = {"role": "assistant", "content": "".join(TEXT_PIECES), "refusal": None}
            if tools:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}]}
            return 200, {**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": message, "logprobs": None,
                 "finish_reason": "tool_calls" if tools else "stop"}]}, None

        def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> Tuple[None, Dict[str, Any]]:
            return None, {**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        events: List[Any] = [chunk({"role": "assistant", "content": ""})]
        if tools:
            events.append(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                 "function": {"name": "get_weather", "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in TOOL_ARGS]
        else:
            events += [chunk({"content": piece}) for piece in TEXT_PIECES]
        if model.endswith("-stream-error"):
            events.append((None, {"error": {"message": "overloaded mid-stream", "type": "server_error"}}))
        events.append(chunk({}, "tool_calls" if tools else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        return 200, None, events

    # -- OpenAI responses ----------------------------------------------------------------------------

    def _responses(self, body: Dict[str, Any]) -> Tuple[int, Any, Optional[Iterable]]:
        model = body.get("model", "")
        if model.endswith("-error") and not model.endswith("-stream-error"):
            return 429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}, None
        tools = model.endswith("-tools")
        output: List[Dict[str, Any]] = [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                                         "content": [{"type": "output_text", "text": "".join(TEXT_PIECES),
                                                      "annotations": []}]}]
        if tools:
            output = [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                       "arguments": "".join(TOOL_ARGS), "status": "completed"}]
        response = {"id": "resp_1", "object": "response", "created_at": 1700000000, "status": "completed",
                    "model": model + "-2024", "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                    "tools": [], "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
                    "temperature": 1.0, "top_p": 1.0,
                    "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8,
                              "input_tokens_details": {"cached_tokens": 1},
                              "output_tokens_details": {"reasoning_tokens": 0}}}
        if not body.get("stream"):
            return 200, response, None
        seq = iter(range(100))
        events: List[Any] = [("response.created", {"type": "response.created", "sequence_number": next(seq),
                                                   "response": {**response, "status": "in_progress", "output": []}})]
        if not tools:
            events += [("response.output_text.delta", {
                "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                "delta": piece, "sequence_number": next(seq), "logprobs": []}) for piece in TEXT_PIECES]
        events.append(("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                              "response": response}))
        return 200, None, events

    # -- Anthropic messages --------------------------------------------------------------------------

    def _messages(self, body: Dict[str, Any]) -> Tuple[int, Any, Optional[Iterable]]:
        model = body.get("model", "")
        if model.endswith("-error") and not model.endswith("-stream-error"):
            return 429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}, None
        tools = model.endswith("-tools")
        usage = {"input_tokens": 10, "output_tokens": 6, "cache_read_input_tokens": 4,
                 "cache_creation_input_tokens": 2}
        content: List[Dict[str, Any]] = [{"type": "text", "text": "".join(TEXT_PIECES)}]
        if tools:
            content.append({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}})
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model + "-2024",
                   "content": content, "stop_reason": "tool_use" if tools else "end_turn", "stop_sequence": None,
                   "usage": usage}
        if not body.get("stream"):
            return 200, message, None
        events: List[Any] = [("message_start", {"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None,
            "usage": {**usage, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": p}}) for p in TEXT_PIECES]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        if model.endswith("-stream-error"):
            events.append(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        if tools:
            events.append(("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}))
            events += [("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                "delta": {"type": "input_json_delta", "partial_json": a}})
                       for a in TOOL_ARGS]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
        events.append(("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "tool_use" if tools else "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 6}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return 200, None, events
