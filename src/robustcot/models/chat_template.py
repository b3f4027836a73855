"""Qwen2-VL-style chat templates for the built-in tiny model and the organism.

Written for this project (not copied from a model repository); they render the same layout as
Qwen2.5-VL's template so the small models exercise the same prompt structure, image placeholders
and ``continue_final_message`` behaviour as the 7B models.
"""


def qwen_style_chat_template(default_system: str | None) -> str:
    """The template; ``default_system`` is the system turn written when a conversation has none
    (Qwen2.5-VL's "You are a helpful assistant."), None for none at all (as Qwen3-VL does)."""
    default = (
        "{% if loop.first and message['role'] != 'system' %}"
        f"<|im_start|>system\n{default_system}<|im_end|>\n"
        "{% endif %}"
        if default_system is not None
        else ""
    )
    return (
        "{% for message in messages %}"
        + default
        + "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}"
        "{{ message['content'] }}"
        "{% else %}"
        "{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}"
        "<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif part['type'] == 'text' %}"
        "{{ part['text'] }}"
        "{% endif %}"
        "{% endfor %}"
        "{% endif %}"
        "<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}"
        "<|im_start|>assistant\n"
        "{% endif %}"
    )


QWEN_STYLE_CHAT_TEMPLATE = qwen_style_chat_template("You are a helpful assistant.")
#: No default system turn: the organism is trained on prompts without one (11 tokens fewer per trace).
NO_DEFAULT_SYSTEM_CHAT_TEMPLATE = qwen_style_chat_template(None)
