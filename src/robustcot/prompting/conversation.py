"""A backend-neutral conversation: system prompt, user turn with images, optional assistant prefill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass
class Conversation:
    """What a model is asked, independent of how a backend renders it.

    ``prefill`` is the start of the assistant turn that the model must continue (lm-eval's
    ``gen_prefix``); backends render it with ``continue_final_message`` so the model sees no
    end-of-turn after it.
    """

    user_text: str
    images: list[Image.Image] = field(default_factory=list)
    system: str | None = None
    prefill: str | None = None

    def messages(self, image_placeholder: Any = None) -> list[dict[str, Any]]:
        """Chat messages in the HF/OpenAI content-part layout.

        Images come first in the user turn, as Qwen2.5-VL and most VLM chat templates expect.
        ``image_placeholder`` replaces the PIL object in each image part (templates need only the
        part's type; processors receive the pixels separately).
        """
        msgs: list[dict[str, Any]] = []
        if self.system:
            msgs.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        content: list[dict[str, Any]] = [
            {"type": "image", "image": img if image_placeholder is None else image_placeholder}
            for img in self.images
        ]
        content.append({"type": "text", "text": self.user_text})
        msgs.append({"role": "user", "content": content})
        if self.prefill:
            msgs.append({"role": "assistant", "content": [{"type": "text", "text": self.prefill}]})
        return msgs
