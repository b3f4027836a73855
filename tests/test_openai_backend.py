"""The ``openai:`` backend against a local scripted chat-completions server (never the network)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import random
import time
from dataclasses import asdict
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from PIL import Image
from pydantic import ValidationError

from fake_chat_server import FakeChatServer, fake_backend, run_batch
from robustcot.models.api_budget import Budget
from robustcot.models.api_limiter import AdaptiveLimiter
from robustcot.models.api_retry import backoff_delay, parse_retry_after
from robustcot.models.base import GenerationRequest
from robustcot.models.openai_api import OpenAIBackend
from robustcot.models.openai_config import EMULATED_PREFILL_TEMPLATE, OpenAIConfig
from robustcot.models.openai_logprobs import TokenLogprobs, read_letter_logprobs
from robustcot.models.openai_messages import public_url, resolve_prefill_mode
from robustcot.models.registry import make_backend
from robustcot.prompting.conversation import Conversation

LETTERS = ["A", "B", "C", "D"]


def _req(i: int, directives: str = "", *, prefill=None, images=(), system=None) -> GenerationRequest:
    conv = Conversation(
        user_text=f"[[id:q{i}]]{directives} Which option?",
        images=list(images),
        system=system,
        prefill=prefill,
    )
    return GenerationRequest(key=f"k{i}", conversation=conv, letters=list(LETTERS))


# -- pure pieces -------------------------------------------------------------------------------
def test_parse_retry_after_forms():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Thu, 01 Jan 2026 12:00:07 GMT"}, now) == 7.0
    assert parse_retry_after({"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}, now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_grows_with_jitter_and_cap():
    rng = random.Random(1)
    for retry in range(8):
        step = min(10.0, 0.5 * 2**retry)
        delays = [backoff_delay(retry, 0.5, 10.0, rng) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1


def test_limiter_aimd_bounds_and_one_decrease_per_round():
    async def scenario():
        lim = AdaptiveLimiter(8, 2, 10, decrease=0.5)
        async with lim.slot() as early:
            pass
        lim.on_rate_limit(early)
        assert lim.limit == 4
        lim.on_rate_limit(early)  # sent before the decrease: same congestion signal
        assert lim.limit == 4
        async with lim.slot() as late:
            pass
        lim.on_rate_limit(late)
        lim.on_rate_limit(time.monotonic() + 1)
        assert lim.limit == 2 and lim.lowest == 2  # floor
        for _ in range(2):
            lim.on_success()
        assert lim.limit == pytest.approx(2 + 1 / 2 + 1 / 2.5)
        for _ in range(500):
            lim.on_success()
        assert lim.limit == 10  # ceiling

        lim = AdaptiveLimiter(3, 1, 3)
        peak = 0

        async def hold():
            nonlocal peak
            async with lim.slot():
                peak = max(peak, lim.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(hold() for _ in range(20)))
        assert peak == 3 and lim.in_flight == 0

    asyncio.run(scenario())


def test_budget_limits():
    b = Budget(max_total_tokens=100)
    b.add(60, 40)
    assert b.exhausted() is None
    b.add(1, None)
    assert "101 tokens" in b.exhausted()
    c = Budget(max_cost_usd=0.05, price_input_per_1k=1.0, price_output_per_1k=2.0)
    c.add(10, 20)
    assert c.cost_usd == pytest.approx(0.05) and c.exhausted() is None
    c.add(1, 0)
    assert "max_cost_usd" in c.exhausted()


def _tok(text, *alts):
    return TokenLogprobs(text, list(alts) or [(text, -0.01)])


def test_letter_readout_sums_variants_and_reports_missing():
    tokens = [
        _tok("<think>"),
        _tok("ok"),
        _tok("</think>"),
        _tok("<answer>"),
        _tok(" "),
        _tok("B", ("B", -0.3), (" B", -1.9), ("A", -2.0), ("\nC", -4.0), ("Be", -0.5)),
        _tok("</answer>"),
    ]
    out = read_letter_logprobs(tokens, "<answer>", LETTERS)
    assert out.logprobs["B"] == pytest.approx(math.log(math.exp(-0.3) + math.exp(-1.9)))
    assert out.logprobs["A"] == -2.0 and out.logprobs["C"] == -4.0
    assert out.logprobs["D"] == float("-inf")
    assert "D absent from the top-5" in out.note and "-4.000" in out.note


def test_letter_readout_fused_marker_opener_and_failures():
    fused = [_tok("<answer"), _tok(">B", (">B", -0.1), (">A", -2.5), ("B", -6.0))]
    out = read_letter_logprobs(fused, "<answer>", ["A", "B"])
    assert out.logprobs == {"A": -2.5, "B": -0.1}
    assert "fused" in out.note
    opener = [_tok("<answer>"), _tok("("), _tok("C", ("C", -0.2), ("A", -1.7))]
    assert read_letter_logprobs(opener, "<answer>", ["A", "B", "C"]).logprobs == {
        "A": -1.7,
        "B": float("-inf"),
        "C": -0.2,
    }
    assert read_letter_logprobs([_tok("no tags")], "<answer>", LETTERS).logprobs is None
    word = read_letter_logprobs([_tok("<answer>"), _tok("Maybe")], "<answer>", LETTERS)
    assert word.logprobs is None and "'Maybe'" in word.note
    in_prefill = read_letter_logprobs(
        [_tok("A", ("A", -0.7), ("B", -0.7))], "<answer>", ["A", "B"], marker_in_prefill=True
    )
    assert in_prefill.logprobs == {"A": -0.7, "B": -0.7}


def test_prefill_mode_resolution_and_public_url():
    assert resolve_prefill_mode("auto", "https://api.openai.com/v1") == "emulated"
    assert (
        resolve_prefill_mode("auto", "https://generativelanguage.googleapis.com/v1beta/openai/") == "emulated"
    )
    assert resolve_prefill_mode("auto", "http://127.0.0.1:8000/v1") == "native"
    assert resolve_prefill_mode("auto", "https://notapi.openai.com.evil.example/v1") == "native"
    assert resolve_prefill_mode("trailing_assistant", "https://api.openai.com/v1") == "trailing_assistant"
    assert public_url("https://user:pw@host.example:8443/v1?key=abc#x") == "https://host.example:8443/v1"


def test_config_validation():
    with pytest.raises(ValidationError, match="price"):
        OpenAIConfig(max_cost_usd=1.0)
    with pytest.raises(ValidationError, match="prefill"):
        OpenAIConfig(emulated_template="no placeholder")
    with pytest.raises(ValidationError):
        OpenAIConfig(top_logprobs=21)


# -- against the fake server -------------------------------------------------------------------
#: Failure scripts cycled over requests: 7 retries per cycle, one of them for a rate limit.
SCRIPTS = [[], ["429@0", "500"], ["drop"], ["malformed", "drop", "500"], ["500"]]


def test_no_request_lost_or_duplicated_and_retries_counted():
    scripts = [SCRIPTS[i % len(SCRIPTS)] for i in range(60)]
    reqs = [_req(i, f"[[fail:{','.join(s)}]]" if s else "") for i, s in enumerate(scripts)]
    with FakeChatServer(latency_s=0.01) as server:
        with fake_backend(server, max_concurrency=8, adaptive_concurrency=False) as backend:
            out = backend.generate(reqs)
        assert len(out) == len(reqs)
        assert 2 <= server.peak_in_flight <= 8  # concurrent, within the limit
        for i, (c, script) in enumerate(zip(out, scripts, strict=True)):
            assert c.error is None
            assert f"echo q{i}<" in c.text  # completion i answers request i
            assert c.retries == len(script)
            # every failure was retried exactly once more, and exactly one attempt succeeded
            assert server.outcomes(f"q{i}") == [s.split("@")[0] for s in script] + ["ok"]
    assert backend.stats.retries == sum(c.retries for c in out) == 7 * 12
    assert backend.stats.retries_rate_limit == 12
    assert backend.stats.succeeded == backend.stats.requests == 60 and backend.stats.failed == 0


def test_timeout_retried_and_final_failures_reported():
    reqs = [
        _req(0, "[[fail:timeout]]"),
        _req(1, "[[fail:500,500,500]]"),
        _req(2, "[[fail:400]]"),
        _req(3, "[[fail:429@1000]]"),
    ]
    with FakeChatServer() as server:
        start = time.monotonic()
        out = run_batch(server, reqs, timeout_s=0.3, max_retries=2, max_retry_after_s=10)
        assert time.monotonic() - start >= 0.3
        assert out[0].error is None and out[0].retries == 1
        assert server.outcomes("q0") == ["timeout", "ok"]
        assert "HTTP 500" in out[1].error and "gave up after 2 retries" in out[1].error
        assert server.outcomes("q1") == ["500"] * 3
        assert "HTTP 400" in out[2].error and out[2].retries == 0 and server.outcomes("q2") == ["400"]
        assert "exceeds max_retry_after_s" in out[3].error and server.outcomes("q3") == ["429"]
        assert all(c.text == "" for c in out[1:])


def test_retry_after_seconds_and_http_date_are_honoured():
    reqs = [_req(0, "[[fail:429@1]]"), _req(1, "[[fail:429@date2]]")]
    with FakeChatServer() as server:
        out = run_batch(server, reqs, adaptive_concurrency=False)
        assert [c.retries for c in out] == [1, 1] and all(c.error is None for c in out)
        gaps = {}
        for rid in ("q0", "q1"):
            first, second = (a.at for a in server.attempts if a.request_id == rid)
            gaps[rid] = second - first
    assert gaps["q0"] >= 1.0
    # An HTTP-date has one-second resolution: "now + 2 s" truncated leaves more than 1 s to wait.
    assert gaps["q1"] >= 0.95


def test_concurrency_shrinks_on_429s():
    reqs = [_req(i) for i in range(40)]
    server = FakeChatServer(latency_s=0.05, rate_limit_above=3, rate_limit_retry_after="0")
    with server, fake_backend(server, max_concurrency=16, max_retries=30) as backend:
        out = backend.generate(reqs)
    assert all(c.error is None for c in out)
    stats = backend.stats
    assert stats.retries_rate_limit > 0 and stats.concurrency_decreases >= 2
    assert stats.lowest_concurrency_limit <= 4 < 16


@pytest.mark.parametrize(
    ("limits", "sent"),
    [
        ({"max_total_tokens": 100}, 6),
        ({"max_cost_usd": 0.05, "price_input_per_1k": 1.0, "price_output_per_1k": 2.0}, 2),
    ],
)
def test_budget_stops_sending_and_reports_every_row(limits, sent):
    reqs = [_req(i) for i in range(20)]  # each reply: 10 prompt + 9 completion tokens
    with FakeChatServer(prompt_tokens=10) as server:
        with fake_backend(server, max_concurrency=1, **limits) as backend:
            out = backend.generate(reqs)
        assert len(server.attempts) == sent
    assert [c.error is None for c in out] == [True] * sent + [False] * (20 - sent)
    assert all("budget exhausted" in c.error and "not sent" in c.error for c in out[sent:])
    assert backend.stats.budget_stopped == 20 - sent
    assert backend.stats.prompt_tokens == 10 * sent


def test_outage_gives_error_rows_in_order():
    reqs = [_req(i) for i in range(6)]
    with FakeChatServer(down_after=3) as server:
        out = run_batch(server, reqs, max_concurrency=1, max_retries=1)
        assert server.outcomes("q4") == ["503", "503"]
    assert [c.error is None for c in out] == [True] * 3 + [False] * 3
    assert all("HTTP 503" in c.error and c.retries == 1 and c.text == "" for c in out[3:])
    assert all(json.loads(c.prompt)["messages"] for c in out[3:])  # failed rows keep the request


def test_logprob_refusal_falls_back_and_is_remembered():
    reqs = [_req(i) for i in range(10)]
    with FakeChatServer(refuse_logprobs=True) as server:
        with fake_backend(server, max_concurrency=2) as backend:
            assert backend.fingerprint()["logprobs"] == "requested"
            out = backend.generate(reqs)
            again = backend.generate([_req(99)])
        asked = [a for a in server.attempts if a.body.get("logprobs")]
        assert 1 <= len(asked) <= 2  # only requests already in flight when the refusal came
        assert all(server.outcomes(a.request_id) == ["refused_logprobs", "ok"] for a in asked)
        assert "logprobs" not in server.bodies("q99")[0]
    for c in [*out, *again]:
        assert c.error is None and c.letter_logprobs is None and c.retries == 0
        assert "not allowed to request logprobs" in c.uncertainty_note
    assert backend.logprobs == "refused" and backend.fingerprint()["logprobs"] == "refused"
    assert backend.fingerprint()["top_logprobs"] is None


def test_letter_distribution_read_from_returned_logprobs():
    alts = [("{L}", -0.2), (" {L}", -2.0), ("A", -2.3), ("\nC", -3.0), ("<", -5.0)]
    with FakeChatServer(letter_alternatives=alts) as server:
        (c,) = run_batch(server, [_req(0, "[[answer:B]]")], top_logprobs=5)
        body = server.bodies("q0")[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert c.uncertainty_source == "generation"
    assert c.letter_logprobs["B"] == pytest.approx(math.log(math.exp(-0.2) + math.exp(-2.0)))
    assert (c.letter_logprobs["A"], c.letter_logprobs["C"], c.letter_logprobs["D"]) == (
        -2.3,
        -3.0,
        float("-inf"),
    )
    assert "D absent" in c.uncertainty_note
    assert c.n_prompt_tokens == 10 and c.n_completion_tokens == 9


def test_prefill_modes_produce_expected_request_bodies():
    prefill = "<think>The answer is clearly C"
    img = Image.new("RGB", (40, 30), "red")
    extra = {"chat_template_kwargs": {"enable_thinking": False}}
    with FakeChatServer() as server:
        outs = {}
        for i, mode in enumerate(["native", "trailing_assistant", "emulated"]):
            req = _req(i, prefill=prefill, images=[img], system="Be brief.")
            (outs[mode],) = run_batch(server, [req], prefill_mode=mode, extra_body=extra)
        (plain,) = run_batch(server, [_req(3, images=[img])], prefill_mode="native", image_format="jpeg")
        native, trailing, emulated = (server.bodies(f"q{i}")[0] for i in range(3))
        plain_body = server.bodies("q3")[0]

    for body in (native, trailing, emulated):
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        parts = body["messages"][1]["content"]
        assert parts[0]["type"] == "image_url" and parts[1]["type"] == "text"
        url = parts[0]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (40, 30)
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert native["messages"][-1] == {"role": "assistant", "content": prefill}
    assert native["add_generation_prompt"] is False and native["continue_final_message"] is True
    assert trailing["messages"][-1] == {"role": "assistant", "content": prefill}
    assert "continue_final_message" not in trailing and "add_generation_prompt" not in trailing
    assert [m["role"] for m in emulated["messages"]] == ["system", "user"]
    assert emulated["messages"][1]["content"][1]["text"].endswith(
        EMULATED_PREFILL_TEMPLATE.format(prefill=prefill)
    )
    assert "continue_final_message" not in emulated
    assert {m: c.prefill_mode for m, c in outs.items()} == {m: m for m in outs}
    assert not outs["native"].text.startswith("<think>The answer")  # continuation only
    assert json.loads(outs["native"].prompt)["messages"][-1]["content"] == prefill
    assert "<" in json.loads(outs["native"].prompt)["messages"][1]["content"][0]["image_url"]["url"]

    assert plain.prefill_mode is None
    assert [m["role"] for m in plain_body["messages"]] == [
        "user"
    ] and "continue_final_message" not in plain_body
    jpeg = plain_body["messages"][0]["content"][0]["image_url"]["url"]
    assert jpeg.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(jpeg.split(",", 1)[1]))).format == "JPEG"


def test_api_key_never_leaks(caplog, monkeypatch):
    key = "sk-LEAKCHECK-4f9a7c21e"
    caplog.set_level(logging.DEBUG)
    reqs = [_req(0), _req(1, "[[fail:429@0,500]]"), _req(2, "[[fail:401]]"), _req(3, "[[fail:drop]]")]
    with FakeChatServer(refuse_logprobs=True) as server:
        with fake_backend(server, api_key=key) as backend:
            out = backend.generate(reqs)
        assert {a.authorization for a in server.attempts} == {f"Bearer {key}"}  # it was really sent
        monkeypatch.setenv("OPENAI_API_KEY", key)
        with OpenAIBackend("m", OpenAIConfig(base_url=server.base_url, backoff_base_s=0.01)) as env_backend:
            out += env_backend.generate([_req(4, "[[fail:401]]")])
        assert server.attempts[-1].authorization == f"Bearer {key}"
    assert "[redacted]" in out[2].error and "[redacted]" in out[4].error
    produced = [
        json.dumps(backend.fingerprint()),
        json.dumps(env_backend.fingerprint()),
        json.dumps(backend.stats.as_dict()),
        repr(backend.config),
        backend.config.model_dump_json(),
        json.dumps(backend.config.model_dump(mode="json")),
        caplog.text,
        *(repr(asdict(c)) for c in out),
    ]
    assert not [p for p in produced if key in p]
    assert "logprobs" in caplog.text  # the logs were captured, not empty


def test_missing_key_is_a_config_error(monkeypatch):
    from robustcot.errors import ConfigError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend("m", OpenAIConfig(base_url="http://127.0.0.1:9/v1"))


def test_registered_spec_and_generate_inside_running_loop(request):
    with FakeChatServer() as server:
        cfg = OpenAIConfig(base_url=server.base_url, api_key="sk-x")
        backend = make_backend("openai:some-vlm", SimpleNamespace(openai=cfg))
        request.addfinalizer(backend.close)
        assert isinstance(backend, OpenAIBackend) and backend.name == "openai:some-vlm"
        assert backend.fingerprint() == {
            "backend": "openai",
            "model": "some-vlm",
            "base_url": server.base_url,
            "prefill_mode": "native",
            "logprobs": "requested",
            "top_logprobs": 20,
            "image_format": "png",
        }

        async def in_notebook():
            return backend.generate([_req(0), _req(1)])

        out = asyncio.run(in_notebook())
        assert [c.error for c in out] == [None, None] and "echo q1<" in out[1].text
        out = backend.generate([_req(2)])  # the client survives between calls
        backend.close()
        out += backend.generate([_req(3)])  # and is reopened after close()
        assert [c.error for c in out] == [None, None]
        assert server.bodies("q0")[0]["model"] == "some-vlm"
