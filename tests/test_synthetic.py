"""The synthetic benchmark and the benchmark registry.

Answers are re-derived here from the stored scene graph by reading the question text, independently
of the generator's own bookkeeping, and the scene graph is checked against the rendered pixels.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from robustcot.data import registry
from robustcot.data.registry import BenchmarkInfo, get_benchmark, list_benchmarks, load_benchmark
from robustcot.data.sample import Sample, option_letter
from robustcot.data.scene import PALETTE
from robustcot.data.synthetic import FAMILIES, synthetic_samples
from robustcot.errors import ConfigError

N = 600


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return synthetic_samples(N, seed=7)


def _find(scene: dict, name: str) -> dict:
    colour, shape = name.split()
    found = [o for o in scene["objects"] if o["colour"] == colour and o["shape"] == shape]
    assert len(found) == 1, f"{name!r} does not name exactly one object"
    return found[0]


def _expected_answer(sample: Sample) -> str:
    """The correct option text, recomputed from the question and the scene graph."""
    scene, q = sample.metadata["scene"], sample.question
    if m := re.fullmatch(r"Is the (\w+ \w+) to the left or to the right of the (\w+ \w+)\?", q):
        a, b = _find(scene, m[1]), _find(scene, m[2])
        # Unambiguous: the horizontal extents do not overlap.
        assert a["x"] + a["radius"] < b["x"] - b["radius"] or b["x"] + b["radius"] < a["x"] - a["radius"]
        return "left" if a["x"] < b["x"] else "right"
    if m := re.fullmatch(r"Is the (\w+ \w+) above or below the (\w+ \w+)\?", q):
        a, b = _find(scene, m[1]), _find(scene, m[2])
        assert a["y"] + a["radius"] < b["y"] - b["radius"] or b["y"] + b["radius"] < a["y"] - a["radius"]
        return "above" if a["y"] < b["y"] else "below"
    if m := re.fullmatch(r"How many (\w+)s are there in the image\?", q):
        return str(sum(o["shape"] == m[1] for o in scene["objects"]))
    if m := re.fullmatch(r"What colour is the (?:(small|large) )?(\w+)\?", q):
        found = [o for o in scene["objects"] if o["shape"] == m[2] and m[1] in (None, o["size"])]
        assert len(found) == 1, f"{q!r} is ambiguous"
        return found[0]["colour"]
    if m := re.fullmatch(r"Is the (\w+ \w+) small or large\?", q):
        return _find(scene, m[1])["size"]
    raise AssertionError(f"unrecognised question {q!r}")


def test_same_seed_gives_identical_samples() -> None:
    a, b = synthetic_samples(25, seed=3), synthetic_samples(25, seed=3)
    for x, y in zip(a, b, strict=True):
        assert x.images[0].data == y.images[0].data
        assert x.model_dump(exclude={"images"}) == y.model_dump(exclude={"images"})


def test_different_seeds_differ_and_samples_do_not_depend_on_n() -> None:
    a, b = synthetic_samples(10, seed=0), synthetic_samples(10, seed=1)
    assert sum(x.images[0].data != y.images[0].data for x, y in zip(a, b, strict=True)) >= 9
    longer = synthetic_samples(30, seed=0)
    assert [s.images[0].data for s in a] == [s.images[0].data for s in longer[:10]]
    assert [s.id for s in a] == [f"synthetic-0-{i}" for i in range(10)]


def test_unencoded_samples_have_the_png_samples_pixels() -> None:
    """Training streams skip the PNG round trip; what the model sees must not change."""
    import numpy as np

    from robustcot.data.synthetic import synthetic_sample

    for i in range(10):
        encoded, raw = synthetic_sample(i, seed=3), synthetic_sample(i, seed=3, png=False)
        assert isinstance(encoded.images[0].data, bytes) and raw.images[0].data is None
        assert np.array_equal(np.asarray(encoded.load_images()[0]), np.asarray(raw.load_images()[0]))
        assert raw.model_dump(exclude={"images"}) == encoded.model_dump(exclude={"images"})


def test_image_size_is_a_parameter() -> None:
    (sample,) = synthetic_samples(1, image_size=140)
    img = sample.load_images()[0]
    assert img.size == (140, 140) and img.mode == "RGB"
    assert sample.metadata["scene"]["width"] == 140


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 2, "seed": -1}])
def test_bad_arguments_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        synthetic_samples(**kwargs)


def test_families_option_keeps_the_full_benchmarks_samples_of_those_families() -> None:
    import robustcot.organism.controls  # noqa: F401  (registers synthetic_blank)

    full = {s.id: s for s in synthetic_samples(40, seed=5)}
    sizes = load_benchmark("synthetic", limit=6, seed=5, families="size")
    assert [s.metadata["category"] for s in sizes] == ["size"] * 6
    for s in sizes:  # same id, same image, same question as in the full benchmark
        assert s.images[0].data == full[s.id].images[0].data and s.question == full[s.id].question
    two = load_benchmark("synthetic", limit=8, seed=5, families=["colour", "counting"])
    assert Counter(s.metadata["category"] for s in two) == {"colour": 4, "counting": 4}
    blank = load_benchmark("synthetic_blank", limit=3, seed=5, families="size")
    assert [s.id for s in blank] == [s.id for s in sizes[:3]]
    with pytest.raises(ConfigError, match=r"'sizes'.*known: left_right"):
        synthetic_samples(3, families=["size", "sizes"])


def test_too_small_image_is_rejected() -> None:
    with pytest.raises(ValueError, match="image_size"):
        synthetic_samples(1, image_size=16)


def test_every_family_is_present_with_two_to_four_options(samples: list[Sample]) -> None:
    families = Counter(s.metadata["category"] for s in samples)
    assert set(families) == set(FAMILIES) >= {"left_right", "above_below", "counting", "colour"}
    assert min(families.values()) >= N // len(FAMILIES) - 1
    assert {len(s.options) for s in samples} == {2, 3, 4}


def test_gold_answers_follow_from_the_scene_graph(samples: list[Sample]) -> None:
    for s in samples:
        assert s.options[s.gold_index] == _expected_answer(s), s.id


def test_option_statements_describe_their_options(samples: list[Sample]) -> None:
    for s in samples:
        assert s.option_statements is not None and len(set(s.option_statements)) == len(s.options)
        for option, statement in zip(s.options, s.option_statements, strict=True):
            assert statement.endswith(".")
            if s.metadata["category"] == "counting":
                number = re.search(r"There (?:is|are) (\d+|no) ", statement)[1]
                assert option == ("0" if number == "no" else number), statement
            else:
                assert re.search(rf"\b{option}\b", statement), statement
    examples = {s.option_statements[s.gold_index] for s in samples}
    assert any(re.fullmatch(r"The \w+ \w+ is to the (left|right) of the \w+ \w+\.", e) for e in examples)
    assert any(re.fullmatch(r"There are \d+ \w+s in the image\.", e) for e in examples)


def test_scene_graph_matches_the_pixels_and_is_json(samples: list[Sample]) -> None:
    for s in samples[:60]:
        scene = json.loads(json.dumps(s.metadata["scene"]))
        objects = scene["objects"]
        assert 3 <= len(objects) <= 6
        assert len({(o["colour"], o["shape"]) for o in objects}) == len(objects)
        assert len({(o["col"], o["row"]) for o in objects}) == len(objects)
        img = s.load_images()[0]
        for o in objects:
            assert img.getpixel((o["x"], o["y"])) == PALETTE[o["colour"]], (s.id, o)
            assert o["x"] - o["radius"] >= 0 and o["x"] + o["radius"] < scene["width"]


def test_gold_position_is_balanced_across_letters(samples: list[Sample]) -> None:
    by_n: dict[int, Counter[str]] = {}
    for s in samples:
        by_n.setdefault(len(s.options), Counter())[s.gold_letter] += 1
    for n, counts in by_n.items():
        total = sum(counts.values())
        assert set(counts) == {option_letter(i) for i in range(n)}
        for letter, count in counts.items():
            assert 0.6 < count * n / total < 1.4, (n, letter, counts)


# Registry


def test_synthetic_is_registered_and_loads() -> None:
    info = get_benchmark("synthetic")
    assert info in list_benchmarks() and info.licence and info.source
    loaded = load_benchmark("synthetic", limit=5, seed=2, image_size=64)
    direct = synthetic_samples(5, seed=2, image_size=64)
    assert [s.images[0].data for s in loaded] == [s.images[0].data for s in direct]
    assert len(load_benchmark("synthetic")) == 200


def test_unknown_benchmark_error_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown benchmark 'nope'.*synthetic"):
        get_benchmark("nope")


def test_bad_options_and_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="image_sise"):
        load_benchmark("synthetic", limit=2, image_sise=64)
    with pytest.raises(ConfigError, match="limit"):
        load_benchmark("synthetic", limit=0)


def test_registering_a_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls = []

    def loader(*, limit: int | None, seed: int) -> list[Sample]:
        calls.append((limit, seed))
        return synthetic_samples(limit or 1, seed=seed)

    info = BenchmarkInfo("toy", "a toy", loader, "test", "CC0")
    registry.register_benchmark(info)
    registry.register_benchmark(info)  # same info again: no-op
    assert [s.id for s in load_benchmark("toy", limit=3, seed=4)] == [f"synthetic-4-{i}" for i in range(3)]
    assert calls == [(3, 4)]
    assert "toy" in [b.name for b in list_benchmarks()]
    with pytest.raises(ConfigError, match="already registered"):
        registry.register_benchmark(BenchmarkInfo("toy", "another", loader, "elsewhere", "CC0"))
