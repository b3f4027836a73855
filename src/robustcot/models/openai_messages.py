"""Render a :class:`Conversation` as a chat-completions request: images as data URLs, prefill by mode.

Providers differ in what happens to a trailing assistant message: vLLM and SGLang continue it when
told to (``continue_final_message``), some providers continue it as is, and OpenAI and Gemini
restart the turn. The prefill mode says which of those the endpoint does; ``emulated`` quotes the
partial response in the user turn for endpoints that cannot continue at all (a weaker
intervention than a true prefill, and recorded as such).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from PIL import Image

from robustcot.prompting.conversation import Conversation

ResolvedPrefillMode = Literal["native", "trailing_assistant", "emulated"]

#: Hosts known not to continue a trailing assistant message (OpenAI restarts the turn; Gemini
#: restarts it or rejects requests that end with a model turn).
_NO_CONTINUATION_HOSTS = ("api.openai.com", "googleapis.com")
#: Request fields that make vLLM / SGLang render the last assistant message open-ended.
NATIVE_PREFILL_FIELDS = {"add_generation_prompt": False, "continue_final_message": True}


def resolve_prefill_mode(mode: str, base_url: str) -> ResolvedPrefillMode:
    """``auto`` → ``emulated`` for OpenAI and Google hosts, ``native`` elsewhere; others unchanged."""
    if mode != "auto":
        return mode  # type: ignore[return-value]
    host = (urlsplit(base_url).hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _NO_CONTINUATION_HOSTS):
        return "emulated"
    return "native"


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment, which may carry credentials."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def image_data_url(image: Image.Image, fmt: Literal["png", "jpeg"], jpeg_quality: int = 90) -> str:
    """Base64 data URL of ``image``; JPEG drops alpha (it has none)."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=jpeg_quality)
    else:
        image.save(buf, format="PNG")
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


@dataclass
class ChatRequest:
    """The messages and extra fields for one request, plus how its prefill was sent."""

    messages: list[dict[str, Any]]
    extra_body: dict[str, Any] = field(default_factory=dict)
    prefill_mode: ResolvedPrefillMode | None = None
    """``None`` when the conversation has no prefill."""

    def record(self) -> str:
        """The request as JSON for the records, with each image replaced by a short placeholder."""

        def shorten(part: dict[str, Any]) -> dict[str, Any]:
            if part.get("type") != "image_url":
                return part
            url = part["image_url"]["url"]
            return {"type": "image_url", "image_url": {"url": f"{url.split(',', 1)[0]},<{len(url)} chars>"}}

        messages = [
            {**m, "content": [shorten(p) for p in m["content"]]} if isinstance(m["content"], list) else m
            for m in self.messages
        ]
        payload: dict[str, Any] = {"messages": messages}
        if self.extra_body:
            payload["extra_body"] = self.extra_body
        return json.dumps(payload, ensure_ascii=False)


def build_chat_request(
    conv: Conversation,
    mode: ResolvedPrefillMode,
    *,
    image_format: Literal["png", "jpeg"] = "png",
    jpeg_quality: int = 90,
    emulated_template: str,
    extra_body: dict[str, Any] | None = None,
) -> ChatRequest:
    """Chat messages for ``conv`` with its prefill sent the way ``mode`` says."""
    user_text = conv.user_text
    prefill = conv.prefill or None
    if prefill and mode == "emulated":
        user_text += emulated_template.format(prefill=prefill)
    messages: list[dict[str, Any]] = []
    if conv.system:
        messages.append({"role": "system", "content": conv.system})
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_url(img, image_format, jpeg_quality)}}
        for img in conv.images
    ]
    content.append({"type": "text", "text": user_text})
    messages.append({"role": "user", "content": content})
    body = dict(extra_body or {})
    if prefill and mode != "emulated":
        messages.append({"role": "assistant", "content": prefill})
        if mode == "native":
            body.update(NATIVE_PREFILL_FIELDS)
    return ChatRequest(messages, body, mode if prefill else None)
