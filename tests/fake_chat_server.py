"""A local chat-completions server with scripted failures, for testing and benchmarking API backends.

It speaks enough HTTP/1.1 (keep-alive, Content-Length bodies) and enough of the OpenAI
chat-completions protocol (``choices``, ``usage``, ``logprobs.content`` with ``top_logprobs``) for
the official SDK, on an asyncio server so hundreds of connections can wait concurrently.

What each request gets is scripted by directives in its text, so a test reads like its scenario:

* ``[[id:q7]]`` names the request; the reply echoes it (``<think>echo q7</think>...``) so a test can
  check that completion *i* answers request *i*. Without it the id is the text's hash.
* ``[[fail:429@1,500,drop,malformed,timeout]]`` gives the outcome of successive attempts of that id;
  attempts past the list succeed. ``429@1`` sends ``Retry-After: 1`` (``429@date2`` sends an
  HTTP-date two seconds ahead); ``500``, ``503`` and ``400`` send those errors; ``401`` rejects
  the key and, like some real providers, quotes it; ``drop`` closes the socket without answering;
  ``malformed`` sends a 200 with a truncated JSON body; ``timeout`` answers only after
  ``timeout_sleep_s``.
* ``[[answer:B]]`` picks the answer letter (default ``A``).

Server-wide options cover what is not per request: latency, a concurrency cap answered with 429
(``rate_limit_above``), an outage after N answers (``down_after``: 503 from then on, to interrupt a
run), logprob refusal, the top-logprob alternatives at the answer letter, usage.
Every attempt is logged (:attr:`FakeChatServer.attempts`) with its outcome, time and body.

Run as a script (``python tests/fake_chat_server.py --latency 0.1``) it serves in its own process
and prints its port, which is how the benchmark keeps server CPU off the client's core.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

_DIRECTIVE = re.compile(r"\[\[(\w+):([^\]]*)\]\]")
#: Default alternatives at the answer-letter position; ``{L}`` is the chosen letter.
DEFAULT_LETTER_ALTERNATIVES: list[tuple[str, float]] = [("{L}", -0.1), (" {L}", -2.5)]


@dataclass
class Attempt:
    """One HTTP request the server received."""

    request_id: str
    attempt: int
    outcome: str
    """``ok``, ``refused_logprobs``, or the scripted action (``429``, ``500``, ``drop`` ...)."""
    at: float
    """``time.monotonic()`` when the request body had been read."""
    authorization: str | None = field(default=None, repr=False)
    body: dict[str, Any] | None = field(default=None, repr=False)


class FakeChatServer:
    """Chat-completions server on ``127.0.0.1`` in a background thread; use as a context manager."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        timeout_sleep_s: float = 5.0,
        rate_limit_above: int | None = None,
        rate_limit_retry_after: str | None = "0",
        down_after: int | None = None,
        refuse_logprobs: bool = False,
        letter_alternatives: list[tuple[str, float]] | None = None,
        prompt_tokens: int = 10,
        record_bodies: bool = True,
    ) -> None:
        self.latency_s = latency_s
        self.timeout_sleep_s = timeout_sleep_s
        self.rate_limit_above = rate_limit_above
        self.rate_limit_retry_after = rate_limit_retry_after
        self.down_after = down_after
        self.refuse_logprobs = refuse_logprobs
        self.letter_alternatives = letter_alternatives or DEFAULT_LETTER_ALTERNATIVES
        self.prompt_tokens = prompt_tokens
        self.record_bodies = record_bodies
        self.attempts: list[Attempt] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.port = 0
        self.answered = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[asyncio.Task] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeChatServer:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-chat-server", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- views for tests -----------------------------------------------------------------------
    def outcomes(self, request_id: str) -> list[str]:
        with self._lock:
            return [a.outcome for a in self.attempts if a.request_id == request_id]

    def bodies(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a.body for a in self.attempts if a.request_id == request_id and a.body is not None]

    # -- protocol ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", 0))
                body = json.loads(await reader.readexactly(length)) if length else {}
                if not await self._respond(body, headers.get("authorization"), writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # client went away, or the server is shutting down
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _respond(
        self, body: dict[str, Any], authorization: str | None, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; ``False`` when the connection must be closed."""
        text = _user_text(body)
        directives = dict(_DIRECTIVE.findall(text))
        request_id = directives.get("id") or hashlib.sha1(text.encode()).hexdigest()[:12]
        script = [s.strip() for s in directives.get("fail", "").split(",") if s.strip()]
        with self._lock:
            n = self._counts.get(request_id, 0)
            self._counts[request_id] = n + 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            over_cap = self.rate_limit_above is not None and self.in_flight > self.rate_limit_above
            down = self.down_after is not None and self.answered >= self.down_after
        action = script[n] if n < len(script) else ("503" if down else "429" if over_cap else "ok")
        if action == "ok" and self.refuse_logprobs and body.get("logprobs"):
            action = "refused_logprobs"
        outcome = action.split("@")[0]
        with self._lock:
            self.attempts.append(
                Attempt(
                    request_id,
                    n,
                    outcome,
                    time.monotonic(),
                    authorization,
                    body if self.record_bodies else None,
                )
            )
        try:
            return await self._act(action, body, directives, request_id, authorization, writer)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _act(self, action, body, directives, request_id, authorization, writer) -> bool:
        if action.startswith("429"):
            retry_after = action.partition("@")[2] or self.rate_limit_retry_after
            if retry_after and retry_after.startswith("date"):
                retry_after = formatdate(time.time() + float(retry_after[4:]), usegmt=True)
            headers = {"Retry-After": retry_after} if retry_after else {}
            await _send(writer, 429, _error("Rate limit reached, slow down", "rate_limit_exceeded"), headers)
            return True
        if action in ("500", "503", "400"):
            await _send(writer, int(action), _error(f"Scripted error {action}", None))
            return True
        if action == "401":
            key = (authorization or "").removeprefix("Bearer ")
            await _send(writer, 401, _error(f"Incorrect API key provided: {key}", "invalid_api_key"))
            return True
        if action == "drop":
            writer.transport.abort()
            return False
        if action == "refused_logprobs":
            await _send(writer, 403, _error("You are not allowed to request logprobs from this model", None))
            return True
        await asyncio.sleep(self.timeout_sleep_s if action == "timeout" else self.latency_s)
        if action == "malformed":
            await _send(writer, 200, b'{"id": "chatcmpl-x", "choices": [{"index": 0, "message": {"cont')
            return True
        letter = directives.get("answer", "A")
        payload = self._completion(body, request_id, letter)
        with self._lock:
            self.answered += 1
        await _send(writer, 200, json.dumps(payload).encode())
        return True

    def _completion(self, body: dict[str, Any], request_id: str, letter: str) -> dict[str, Any]:
        pieces = ["<think>", "echo", " ", request_id, "</think>", "\n", "<answer>", letter, "</answer>"]
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(pieces)},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if body.get("logprobs"):
            k = int(body.get("top_logprobs") or 0)
            answer_at = pieces.index("<answer>") + 1
            content = []
            for i, piece in enumerate(pieces):
                if i == answer_at:
                    alts = [(t.replace("{L}", letter), lp) for t, lp in self.letter_alternatives]
                else:
                    alts = [(piece, -0.01)]
                content.append(
                    {
                        "token": piece,
                        "logprob": alts[0][1],
                        "bytes": list(piece.encode()),
                        "top_logprobs": [
                            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alts[:k]
                        ],
                    }
                )
            choice["logprobs"] = {"content": content}
        return {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": len(pieces),
                "total_tokens": self.prompt_tokens + len(pieces),
            },
        }


def _user_text(body: dict[str, Any]) -> str:
    parts = []
    for msg in body.get("messages", []):
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if p.get("type") == "text"]
    return "\n".join(parts)


def _error(message: str, code: str | None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "error", "param": None, "code": code}}).encode()


async def _send(
    writer: asyncio.StreamWriter, status: int, payload: bytes, headers: dict[str, str] | None = None
):
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
    await writer.drain()


def fake_backend(server: FakeChatServer, model: str = "fake-vlm", **config: Any):
    """An ``openai:`` backend aimed at ``server`` (``config`` overrides :class:`OpenAIConfig` fields).

    Close it (or use it as a context manager) to release its client and loop thread.
    """
    from robustcot.models.openai_api import OpenAIBackend
    from robustcot.models.openai_config import OpenAIConfig

    settings = {"api_key": "sk-fake-local", "timeout_s": 5.0, "backoff_base_s": 0.05, **config}
    return OpenAIBackend(model, OpenAIConfig(base_url=server.base_url, **settings))


def run_batch(server: FakeChatServer, requests: list, **config: Any) -> list:
    """Run ``requests`` (``GenerationRequest``) against ``server``; returns one completion per request."""
    with fake_backend(server, **config) as backend:
        return backend.generate(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    args = parser.parse_args()
    with FakeChatServer(latency_s=args.latency, record_bodies=False) as server:
        print(server.port, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
