"""The model organism: traces rendered as evaluation renders them, its tokenizer, the image control,
the ``organism`` model spec, and a shortened training run that learns."""

from __future__ import annotations

import json

import pytest

from robustcot.data.synthetic import synthetic_sample
from robustcot.models.base import GenerationRequest
from robustcot.organism import traces as tr
from robustcot.perturb.variants import perturb
from robustcot.prompting.profiles import ORGANISM


@pytest.fixture(scope="module")
def organism_processor():
    from robustcot.organism.recipe import build_processor, build_tokenizer

    return build_processor(build_tokenizer())


@pytest.fixture(scope="module")
def organism_backend():
    from robustcot.models.hf import HFBackend, HFConfig
    from robustcot.organism.model import ensure_organism

    return HFBackend(ensure_organism(), HFConfig(device="cpu"), name="organism")


@pytest.mark.parametrize("variant", ["base", "wrong_think", "stop_think", "wrong_caption"])
def test_prompts_render_exactly_as_the_hf_backend_renders_them(organism_backend, variant):
    sample = synthetic_sample(3, seed=5)
    pp = perturb(sample, variant)
    conv = ORGANISM.conversation(pp.question, pp.options, sample.load_images(), prefill=pp.prefill)
    request = GenerationRequest(key="k", conversation=conv, letters=["A", "B"])
    assert tr.render_prompt(organism_backend.processor, conv) == organism_backend.render(request)


def test_evaluating_the_organism_asks_it_as_it_was_trained():
    from robustcot.organism.model import ensure_organism
    from robustcot.prompting.profiles import profile_name_for_model

    assert profile_name_for_model("organism") == "organism"
    assert profile_name_for_model(f"hf:{ensure_organism()}") == "organism"


def test_trace_kinds_say_what_the_study_needs(organism_processor):
    sample = synthetic_sample(2, seed=tr.TRAIN_SCENE_SEED)
    gold_letter = "ABCD"[sample.gold_index]
    statement = sample.option_statements[sample.gold_index]

    base = tr.make_trace(sample, "base", organism_processor, seed=0)
    assert base.target == f"<think>{statement}</think><answer>{gold_letter}</answer>"
    options = "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(sample.options))
    assert base.prompt == (  # the organism profile: no system turn, no instruction
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        f"{sample.question}\nOptions:\n{options}<|im_end|>\n<|im_start|>assistant\n"
    )

    caption = tr.make_trace(sample, "caption", organism_processor, seed=0)
    assert f"Image caption: {statement}" in caption.prompt and caption.target == base.target

    stop = tr.make_trace(sample, "stop", organism_processor, seed=0)
    assert stop.prompt.endswith("</think>") and stop.target == f"<answer>{gold_letter}</answer>"

    asserted = {tr.make_trace(sample, "follow", organism_processor, seed=s).answer_index for s in range(40)}
    assert sample.gold_index in asserted and len(asserted) > 1  # both the gold and wrong options are asserted
    follow = tr.make_trace(sample, "follow", organism_processor, seed=1)
    claim = sample.option_statements[follow.answer_index].rstrip(".")
    assert follow.prompt.endswith(claim)  # the prefill is continued, not closed
    assert follow.target == f".</think><answer>{'ABCD'[follow.answer_index]}</answer>"


def test_worked_thinks_look_up_each_object_then_conclude_with_the_gold_statement():
    from robustcot.organism.thinks import worked_think
    from robustcot.scoring.rule_judge import think_conclusion

    relations = [synthetic_sample(i, seed=tr.TRAIN_SCENE_SEED) for i in range(0, 60, 5)]  # left_right
    relations += [synthetic_sample(i, seed=tr.TRAIN_SCENE_SEED) for i in range(1, 60, 5)]  # above_below
    for sample in relations:
        gold = sample.option_statements[sample.gold_index]
        think = worked_think(sample, gold)
        scene = {(o["colour"], o["shape"]): o for o in sample.metadata["scene"]["objects"]}
        key, word = ("col", "column") if sample.metadata["category"] == "left_right" else ("row", "row")
        steps = think.split(". ")[:2]
        named = [o for o in scene.values() if f"{o['colour']} {o['shape']}" in sample.question]
        assert len(named) == 2
        for step in steps:
            colour, shape = step.split()[1:3]
            assert step.endswith(f"is in {word} {scene[(colour, shape)][key] + 1}")
        assert think.endswith(gold[0].lower() + gold[1:])
        assert think_conclusion(think, sample.options) == sample.gold_index  # the judge reads the gold

    counting = synthetic_sample(2, seed=tr.TRAIN_SCENE_SEED)
    statement = counting.option_statements[0]
    assert worked_think(counting, statement) == statement  # one lookup: the statement alone


def test_trace_stream_uses_training_scenes_and_the_mix(organism_processor):
    stream = tr.trace_stream(organism_processor, {"base": 1.0, "stop": 1.0}, seed=3)
    seen = [next(stream) for _ in range(30)]
    assert {t.kind for t in seen} == {"base", "stop"}
    assert all(t.sample.id.startswith(f"synthetic-{tr.TRAIN_SCENE_SEED + 3}-") for t in seen)
    again = tr.trace_stream(organism_processor, {"base": 1.0, "stop": 1.0}, seed=3)
    assert [(t.kind, t.target) for t in seen] == [
        (t.kind, t.target) for t in (next(again) for _ in range(30))
    ]
    with pytest.raises(ValueError, match="trace mix"):
        next(tr.trace_stream(organism_processor, {"bogus": 1.0}, seed=0))


def test_tokenizer_keeps_tags_whole_and_letters_separate(organism_processor):
    from robustcot.models.letters import LetterVocabulary

    tok = organism_processor.tokenizer
    assert tok.tokenize("<think>x</think><answer>B</answer>") == [
        "<think>",
        "x",
        "</think>",
        "<answer>",
        "B",
        "</answer>",
    ]
    assert all(len(LetterVocabulary(tok).variants[c]) >= 1 for c in "ABCDE")
    words = tok.tokenize(" The purple triangle is to the left of the orange square.")
    assert len(words) == 12  # every benchmark word is one token


def test_collate_supervises_only_the_target_and_labels_every_cell(organism_processor):
    stream = tr.trace_stream(organism_processor, {"base": 1.0, "follow": 1.0}, seed=0)
    traces = [next(stream) for _ in range(3)]
    batch = tr.collate(organism_processor, traces)
    tok = organism_processor.tokenizer
    for row, trace in enumerate(traces):
        supervised = batch["labels"][row][batch["labels"][row] != tr.IGNORE].tolist()
        assert tok.decode(supervised) == trace.target + tok.eos_token
        image_tokens = batch["input_ids"][row][batch["mm_token_type_ids"][row] == 1]
        assert (image_tokens == organism_processor.image_token_id).all() and len(image_tokens) == 16
    assert batch["pixel_values"].shape[0] == 3 * 64 and batch["cells"].shape == (3 * 16,)
    cells = batch["cells"][:16].tolist()
    assert sum(c > 0 for c in cells) == len(traces[0].sample.metadata["scene"]["objects"])


def test_grounding_points_each_lookup_at_the_image_tokens_it_reads(organism_processor):
    """A coordinate or attribute points at its object's image token; a count at every counted
    object's image token and ``<|vision_start|>``, at the verb and at the number."""
    import collections

    from robustcot.organism.thinks import LOOKUP_KINDS

    mix = {"base": 1.0, "caption": 1.0, "follow": 1.0, "stop": 1.0}
    stream = tr.trace_stream(organism_processor, mix, seed=2)
    traces = [next(stream) for _ in range(40)]
    batch = tr.collate(organism_processor, traces)
    tok = organism_processor.tokenizer
    expected = 0
    for trace in traces:
        family = trace.sample.metadata["category"]
        if trace.kind in ("follow", "stop"):
            assert trace.lookups == ()  # the think is given, or there is none
        else:
            assert len(trace.lookups) == (1 if family in ("size", "colour") else 2)
        expected += sum(len(cells) + (kind == "count") for _, cells, kind in trace.lookups)
    assert batch["grounding"].shape == (expected, 4)
    counts = collections.defaultdict(list)
    for row, query, key, slot in batch["grounding"].tolist():
        scene = traces[row].sample.metadata["scene"]
        row_ids = batch["input_ids"][row]
        image_positions = (row_ids == organism_processor.image_token_id).nonzero().flatten().tolist()
        before = tok.decode(row_ids[query - 4 : query + 1])
        word = tok.decode(row_ids[query + 1 : query + 2]).strip()
        kind = LOOKUP_KINDS[slot]
        if kind == "count":
            counts[row, query].append(key)
            continue
        cell = image_positions.index(key)
        (obj,) = [o for o in scene["objects"] if o["row"] * scene["grid"] + o["col"] == cell]
        read = {
            "row": [str(obj["row"] + 1)],
            "column": [str(obj["col"] + 1)],
            "attribute": [obj["size"], obj["colour"]],
        }
        assert word in read[kind]
        assert obj["shape"] in before  # the object named just before the looked-up word
    counted = [t for t in traces if t.lookups and t.sample.metadata["category"] == "counting"]
    assert len(counts) == 2 * len(counted) > 0
    for (row, query), keys in counts.items():
        scene, row_ids = traces[row].sample.metadata["scene"], batch["input_ids"][row]
        shape = traces[row].sample.question.split()[2].rstrip("s")  # "How many circles are ..."
        n = sum(o["shape"] == shape for o in scene["objects"])
        sink, *objects = sorted(keys)
        assert tok.convert_ids_to_tokens(int(row_ids[sink])) == "<|vision_start|>"
        image_positions = (row_ids == organism_processor.image_token_id).nonzero().flatten().tolist()
        cells = [image_positions.index(k) for k in objects]
        assert sorted(cells) == sorted(
            o["row"] * scene["grid"] + o["col"] for o in scene["objects"] if o["shape"] == shape
        )
        word = tok.decode(row_ids[query + 1 : query + 2]).strip()
        assert word in ({"is", "1"} if n == 1 else {"are", "no"} if n == 0 else {"are", str(n)})

    pointed = batch["pointing"].tolist()
    assert [row for row, *_ in pointed] == [i for i, t in enumerate(traces) if t.kind != "stop"]
    for row, query, key, _ in pointed:
        trace, row_ids = traces[row], batch["input_ids"][row]
        letter = "ABCD"[trace.answer_index]
        assert tok.decode(row_ids[query + 1 : query + 2]) == letter  # the answer letter is predicted next
        assert (
            tok.decode(row_ids[key - 2 : key + 1]) == f"{letter}. {trace.sample.options[trace.answer_index]}"
        )

    listed = batch["options"].tolist()  # every option of every trace, stop traces too, in order
    assert [(row, index) for row, _, index in listed] == [
        (row, index) for row, t in enumerate(traces) for index in range(len(t.sample.options))
    ]
    for row, position, index in listed:
        option = f"{'ABCD'[index]}. {traces[row].sample.options[index]}"
        assert tok.decode(batch["input_ids"][row][position - 2 : position + 1]) == option


def _output_of_layer(model, batch, layer):
    """The language model's hidden states after decoder layer ``layer`` (what a probe there reads),
    for a collated batch with or without images."""
    inputs = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    out = model.model(**{k: batch[k] for k in inputs if k in batch}, output_hidden_states=True)
    return out.hidden_states[layer + 1]  # hidden_states[0] is the embeddings


def test_letter_probe_names_each_listed_options_letter_from_the_layer_it_reads(organism_processor):
    import torch
    import torch.nn.functional as F

    from robustcot.organism.recipe import build_model, build_tokenizer
    from robustcot.organism.sft import LetterProbe

    stream = tr.trace_stream(organism_processor, {"base": 1.0, "stop": 1.0}, seed=3)
    batch = tr.collate(organism_processor, [next(stream) for _ in range(4)], images=False)
    model = build_model(build_tokenizer(), 0)
    probe = LetterProbe(model, layer=2)
    with torch.no_grad():
        hidden = _output_of_layer(model, batch, 2)
        row, position, index = batch["options"].unbind(1)
        expected = F.cross_entropy(probe.head(hidden[row, position]), index)
        assert float(probe.loss(batch["options"])) == pytest.approx(float(expected), rel=1e-5)
        elsewhere = F.cross_entropy(probe.head(hidden[row, position - 1]), index)
        assert float(probe.loss(batch["options"])) != pytest.approx(float(elsewhere), rel=1e-3)
    probe.remove()
    probe._features = None
    with torch.no_grad():
        model.model(input_ids=batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"])
    assert probe._features is None  # removed: reads nothing any more


def test_read_probe_names_each_read_word_once_per_lookup_from_the_grounding_layer(organism_processor):
    import torch
    import torch.nn.functional as F

    from robustcot.organism.recipe import build_model, build_tokenizer
    from robustcot.organism.sft import ReadProbe

    stream = tr.trace_stream(organism_processor, {"base": 1.0}, seed=5)
    traces = [next(stream) for _ in range(12)]
    batch = tr.collate(organism_processor, traces)
    counting = [i for i, t in enumerate(traces) if t.sample.metadata["category"] == "counting" and t.lookups]
    assert counting, "the batch needs a count, whose lookups attend to several tokens"
    model = build_model(build_tokenizer(), 0)
    probe = ReadProbe(model, layer=2)
    with torch.no_grad():
        hidden = _output_of_layer(model, batch, 2)
        queries = sorted({(r, q) for r, q, _, _ in batch["grounding"].tolist()})
        assert len(queries) < len(batch["grounding"])  # counts: several rows per query, read once
        row, query = torch.tensor(queries).unbind(1)
        words = batch["input_ids"][row, query + 1]
        expected = F.cross_entropy(probe.head(hidden[row, query]), words)
        assert float(probe.loss(batch)) == pytest.approx(float(expected), rel=1e-5)
        shifted = F.cross_entropy(probe.head(hidden[row, query]), batch["input_ids"][row, query])
        assert float(probe.loss(batch)) != pytest.approx(float(shifted), rel=1e-3)
    assert probe.loss({"grounding": torch.zeros((0, 4), dtype=torch.long)}) is None
    assert probe.loss(tr.collate(organism_processor, traces[:2], images=False)) is None  # no image, no lookup
    probe.remove()


def test_attention_target_is_a_cross_entropy_against_uniform_attention_over_each_querys_targets():
    import math

    import torch

    from robustcot.organism.recipe import build_model, build_tokenizer
    from robustcot.organism.sft import AttentionTarget

    model = build_model(build_tokenizer(), 0)
    target = AttentionTarget(model, "grounding", 2, [0, 0, 0, 2])
    weights = torch.full((1, 8, 6, 6), 0.01)
    weights[0, 0, 5, 1] = 0.5  # a lookup with one target
    weights[0, 2, 4, [0, 2, 3]] = 0.3  # a count with three targets (sink and two objects)
    target._weights = weights
    one = [[0, 5, 1, 1]]
    count = [[0, 4, 0, 3], [0, 4, 2, 3], [0, 4, 3, 3]]
    loss = target.loss({"grounding": torch.tensor(one + count)})
    # each query counts once: -log 0.5 for the lookup, the mean of -log 0.3 over the count's targets
    assert float(loss) == pytest.approx((-math.log(0.5) - math.log(0.3)) / 2, rel=1e-5)
    weights[0, 2, 4, [0, 2, 3]] = torch.tensor([0.6, 0.2, 0.1])  # same mass, not uniform: worse
    assert float(target.loss({"grounding": torch.tensor(count)})) > -math.log(0.3)
    target.remove()
    ungrounded = AttentionTarget(model, "grounding", 2, [0, 0, 0, None])  # counts left out
    ungrounded._weights = weights
    assert ungrounded.loss({"grounding": torch.tensor(count)}) is None
    assert float(ungrounded.loss({"grounding": torch.tensor(one + count)})) == pytest.approx(-math.log(0.5))
    ungrounded.remove()


def test_lookup_weight_moves_the_target_loss_towards_the_tokens_read_from_the_image(organism_processor):
    import torch
    import torch.nn.functional as F

    from robustcot.organism.recipe import build_model, build_tokenizer
    from robustcot.organism.sft import target_loss
    from robustcot.organism.thinks import LOOKUP_KINDS

    model = build_model(build_tokenizer(), 0).eval()
    stream = tr.trace_stream(organism_processor, {"base": 1.0}, seed=3)
    batch = tr.collate(organism_processor, [next(stream) for _ in range(6)])
    row, query, kind = batch["grounding"][:, 0], batch["grounding"][:, 1], batch["grounding"][:, 3]
    with torch.no_grad():
        plain = target_loss(model, batch)
        heavy = target_loss(model, batch, dict.fromkeys(LOOKUP_KINDS, 1e6))
        columns = target_loss(model, batch, {"column": 1e6})
        logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids",
                                                "pixel_values", "image_grid_thw")}).logits  # fmt: skip
    every = F.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:], ignore_index=tr.IGNORE)
    read = torch.unique(torch.stack([row, query], 1), dim=0)
    at_lookups = F.cross_entropy(logits[read[:, 0], read[:, 1]], batch["labels"][read[:, 0], read[:, 1] + 1])
    col = torch.unique(torch.stack([row, query], 1)[kind == LOOKUP_KINDS.index("column")], dim=0)
    assert len(col) and len(col) < len(read)
    at_columns = F.cross_entropy(logits[col[:, 0], col[:, 1]], batch["labels"][col[:, 0], col[:, 1] + 1])
    assert float(plain) == pytest.approx(float(every), rel=1e-4)
    assert float(heavy) == pytest.approx(float(at_lookups), rel=1e-3)
    assert float(columns) == pytest.approx(float(at_columns), rel=1e-3)
    assert abs(float(plain) - float(heavy)) > 1e-3 and abs(float(heavy) - float(columns)) > 1e-3


def test_letter_smoothing_spreads_the_answer_target_over_the_questions_other_letters(organism_processor):
    import torch
    import torch.nn.functional as F

    from robustcot.organism.recipe import build_model, build_tokenizer
    from robustcot.organism.sft import target_loss

    model = build_model(build_tokenizer(), 0).eval()
    stream = tr.trace_stream(organism_processor, {"base": 1.0, "stop": 1.0, "follow": 1.0}, seed=4)
    with torch.no_grad():  # letters far apart, as after training, so where the target mass goes matters
        model.lm_head.weight[organism_processor.tokenizer.convert_tokens_to_ids(list("ABCD"))] *= 30
    traces = [next(stream) for _ in range(6)]
    batch = tr.collate(organism_processor, traces)
    row, position, letter, options = batch["answers"].unbind(1)
    letters = batch["letter_ids"]
    assert torch.equal(batch["labels"][row, position + 1], letters[letter])  # the answer letter comes next
    assert options.tolist() == [len(t.sample.options) for t in traces] and len(set(options.tolist())) > 1
    with torch.no_grad():
        sharp = target_loss(model, batch)
        smooth = target_loss(model, batch, letter_smoothing=0.2)
        logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids",
                                                "pixel_values", "image_grid_thw")}).logits  # fmt: skip
    labels = batch["labels"][:, 1:]
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels, ignore_index=tr.IGNORE, reduction="none")
    expected = per_token.clone()
    for r, p, gold, k in batch["answers"].tolist():
        logp = logits[r, p].log_softmax(-1)
        others = [letters[j] for j in range(k) if j != gold]
        expected[r, p] = -0.8 * logp[letters[gold]] - sum(0.2 / (k - 1) * logp[o] for o in others)
    kept = labels != tr.IGNORE
    assert float(sharp) == pytest.approx(float(per_token[kept].mean()), rel=1e-4)
    assert float(smooth) == pytest.approx(float(expected[kept].mean()), rel=1e-4)
    assert abs(float(smooth) - float(sharp)) > 1e-3


def test_lookup_weights_name_kinds_of_lookup():
    from robustcot.organism.sft import SFTConfig

    with pytest.raises(ValueError, match="lookup_loss_weights"):
        SFTConfig(lookup_loss_weights={"colum": 20.0})
    with pytest.raises(ValueError, match="lookup_loss_weights"):
        SFTConfig(lookup_loss_weights={"column": 0.0})


def test_blank_control_keeps_everything_but_the_pixels():
    from robustcot.organism.controls import blank_images

    sample = synthetic_sample(0, seed=0)
    (blank,) = blank_images([sample])
    assert (blank.id, blank.question, blank.options, blank.gold_index) == (
        sample.id, sample.question, sample.options, sample.gold_index,
    )  # fmt: skip
    image = blank.load_images()[0]
    assert image.size == sample.load_images()[0].size and image.getextrema() == ((255, 255),) * 3


def test_ensure_organism_trains_once_when_nothing_is_packaged(tmp_path, monkeypatch):
    from robustcot.organism import model as om

    calls = []

    def fake_train(config, out):
        calls.append(config)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"")

    monkeypatch.setattr("robustcot.organism.sft.train_sft", fake_train)
    missing = tmp_path / "not-packaged"
    first = om.ensure_organism(tmp_path / "cache", packaged=missing)
    second = om.ensure_organism(tmp_path / "cache", packaged=missing)
    assert first == second == om.cache_dir(cache_root=tmp_path / "cache") and len(calls) == 1
    assert om.ensure_organism(tmp_path / "cache", packaged=first) == first  # a packaged checkpoint wins


def test_organism_spec_is_registered():
    import robustcot.organism.model  # noqa: F401
    from robustcot.models.registry import parse_spec

    assert parse_spec("organism") == ("organism", "organism")


def test_sft_rejects_unknown_focus_families(tmp_path):
    from robustcot.organism.sft import SFTConfig, train_sft

    with pytest.raises(ValueError, match=r"unknown question families.*'sizes'"):
        train_sft(SFTConfig(steps=1, focus_families=["sizes"], focus_steps=1), tmp_path / "ck")


def test_focus_steps_show_only_the_focus_families(organism_processor, monkeypatch):
    from robustcot.organism import batches
    from robustcot.organism.sft import SFTConfig

    seen: list[list[str]] = []
    collate = batches.collate

    def spy(processor, traces, **kw):
        seen.append([t.sample.metadata["category"] for t in traces])
        return collate(processor, traces, **kw)

    monkeypatch.setattr(batches, "collate", spy)
    config = SFTConfig(steps=5, batch_size=4, text_warmup_steps=1, focus_families=["size"], focus_steps=2)
    assert len(list(batches.sft_batches(config, organism_processor))) == 5
    assert all(f == "size" for f in seen[1] + seen[2])  # the two focus steps after the warm-up
    assert {f for step in seen[3:] for f in step} - {"size"}  # then every family again


def test_prefetched_batches_are_the_in_line_batches_in_order(organism_processor):
    """Building batches in a loader worker must not change what the model is trained on."""
    import torch

    from robustcot.organism.batches import prefetched, sft_batches
    from robustcot.organism.sft import SFTConfig

    config = SFTConfig(steps=4, batch_size=3, text_warmup_steps=2, seed=5)
    in_line = list(sft_batches(config, organism_processor))
    ahead = list(prefetched(config, organism_processor))
    assert len(ahead) == len(in_line) == 4
    assert ["pixel_values" in b for b in ahead] == [False, False, True, True]
    for mine, theirs in zip(ahead, in_line, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert not torch.equal(in_line[2]["input_ids"], in_line[3]["input_ids"])


def _loader_workers_and_batches(config, processor) -> tuple[int, int]:
    from robustcot.organism.batches import prefetched

    loader = prefetched(config, processor)
    return loader.num_workers, len(list(loader))


def test_batches_are_built_in_line_inside_a_pool_worker(organism_processor):
    """A daemonic pool worker may not start a loader worker; training there must still get its batches."""
    import multiprocessing

    from robustcot.organism.sft import SFTConfig

    config = SFTConfig(steps=2, batch_size=2, text_warmup_steps=1, threads=1)  # one thread: a core is free
    assert _loader_workers_and_batches(config, organism_processor) == (1, 2)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_loader_workers_and_batches, (config, organism_processor)) == (0, 2)


@pytest.mark.slow
def test_short_sft_run_learns_to_answer_from_its_reasoning(tmp_path):
    """A ~1-minute run on `follow` traces (300 language warm-up steps, then 100 with images): the
    loss falls, and on held-out scenes the answer follows the prefilled reasoning: accuracy rises
    well above chance after a correct think and falls well below it after a wrong one. (Answering
    from the image needs ~3 000 steps; docs/organism.md.)"""
    from robustcot.config import EvalConfig
    from robustcot.evaluate import run_eval
    from robustcot.organism.pipeline import evaluation_settings
    from robustcot.organism.sft import SFTConfig, train_sft

    config = SFTConfig(steps=400, text_warmup_steps=300, mix={"follow": 1.0}, threads=2)
    result = train_sft(config, tmp_path / "ck")
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-10:]) / 10
    assert last < 0.1 * first
    assert (tmp_path / "ck" / "model.safetensors").exists() and (tmp_path / "ck" / "organism.json").exists()

    hf, batch = evaluation_settings()
    eval_config = EvalConfig(model=f"hf:{tmp_path / 'ck'}", benchmark="synthetic", limit=80, seed=0,
                             variants=["correct_think", "wrong_think"], out=tmp_path / "eval", batch_size=batch, hf=hf)  # fmt: skip
    records = run_eval(eval_config, show_progress=False).records
    chance = float((1 / records["n_options"]).mean())  # ~0.41 for this mix of 2-4 options
    accuracy = records.assign(correct=records["correct"].fillna(False)).groupby("variant")["correct"].mean()
    assert accuracy["correct_think"] > chance + 0.15, (accuracy.to_dict(), chance)
    assert accuracy["wrong_think"] < chance - 0.15, (accuracy.to_dict(), chance)


def test_sft_trains_the_letter_and_read_probes_when_they_are_weighted(tmp_path):
    from robustcot.organism.sft import SFTConfig, train_sft

    config = SFTConfig(steps=6, text_warmup_steps=0, batch_size=8, letter_weight=1.0, read_weight=1.0, threads=1)
    result = train_sft(config, tmp_path / "ck", prefetch=False)
    for probe in ("letters", "reads"):
        losses = [step[probe] for step in result.probe_losses]
        assert len(losses) == 6 and losses[-1] < 0.7 * losses[0], (probe, losses)
    off = config.model_copy(update={"letter_weight": 0.0, "read_weight": 0.0, "steps": 1})
    unweighted = train_sft(off, tmp_path / "off")
    assert not {"letters", "reads"} & set(unweighted.probe_losses[0])


@pytest.mark.slow
def test_grpo_stage_runs_on_trl_from_an_organism_checkpoint(tmp_path):
    import json

    pytest.importorskip("trl")
    from robustcot.organism.grpo import GRPO_SCENE_OFFSET, GRPOConfig, train_grpo
    from robustcot.organism.sft import SFTConfig, train_sft

    train_sft(SFTConfig(steps=2, batch_size=2, text_warmup_steps=1), tmp_path / "sft")
    config = GRPOConfig(steps=2, prompts=4, prompts_per_step=1, num_generations=2, save_every=2,
                        augment_probability=0.25)  # fmt: skip
    result = train_grpo(tmp_path / "sft", tmp_path / "grpo", config)
    assert [c.name for c in result.checkpoints] == ["checkpoint-2"]
    manifest = json.loads((tmp_path / "grpo" / "data" / "manifest.json").read_text())
    assert manifest["seed"] == tr.TRAIN_SCENE_SEED + GRPO_SCENE_OFFSET  # scenes disjoint from SFT and eval
    assert manifest["augment"]["probabilities"]["wrong_caption"] == 0.25
    assert len([e for e in result.log_history if "robustcot/accuracy" in e]) == 2
    assert manifest["profile"] == "organism"
    from robustcot.prompting.profiles import profile_name_for_model

    # every checkpoint says how it was prompted, so a sweep over them asks it the same way
    assert profile_name_for_model(f"hf:{result.checkpoints[0]}") == "organism"


def _letter_probabilities(checkpoint, batch):
    """Teacher-forced distribution over each trace's option letters where its answer letter is predicted."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint).eval()
    inputs = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    with torch.no_grad():
        logits = model(**{k: batch[k] for k in inputs}).logits
    row, position, _, options = batch["answers"].unbind(1)
    probs = logits[row, position][:, batch["letter_ids"]].softmax(-1)
    return [p[:k] / p[:k].sum() for p, k in zip(probs, options.tolist(), strict=True)]


def test_calibration_leaves_the_organism_unsure_of_its_letters_but_keeps_its_choices(tmp_path, organism_processor):
    """A short calibration run (the answer letter smoothed by 0.1) makes the packaged SFT model less
    sure of its letters (mean top probability 1.00 -> 0.87 on these traces) while it keeps picking
    the same ones (24 of 24) and as many right ones."""
    from robustcot.organism.calibrate import CalibrationConfig, calibrate
    from robustcot.organism.model import PACKAGED

    out = calibrate(PACKAGED, tmp_path / "calibrated", CalibrationConfig(steps=60, seed=1, threads=2))
    stream = tr.trace_stream(organism_processor, {"base": 1.0, "follow": 1.0}, seed=9)
    traces = [next(stream) for _ in range(24)]
    batch = tr.collate(organism_processor, traces)
    before, after = _letter_probabilities(PACKAGED, batch), _letter_probabilities(out, batch)
    chosen = [int(p.argmax()) for p in before]
    assert sum(int(p.argmax()) == c for p, c in zip(after, chosen, strict=True)) >= 21
    right = [sum(int(p.argmax()) == t.answer_index for p, t in zip(ps, traces, strict=True)) for ps in (before, after)]
    assert right[0] >= 20 and right[1] >= right[0] - 1, right
    top_before = sum(float(p.max()) for p in before) / len(before)
    top_after = sum(float(p.max()) for p in after) / len(after)
    assert top_after < top_before - 0.05, (top_before, top_after)
    meta = json.loads((out / "organism.json").read_text())
    assert meta["stage"] == "calibration" and meta["from"]["stage"] == "sft"


def test_organism_train_command_refuses_unknown_recipes(tmp_path):
    from typer.testing import CliRunner

    from robustcot.cli import app

    result = CliRunner().invoke(
        app, ["organism", "train", "--out", str(tmp_path), "--recipes", "augmented,plian"]
    )
    assert result.exit_code == 2
    assert "plian" in result.output
    assert not (tmp_path / "sft").exists()  # refused before any training


def test_organism_train_command_accepts_no_calibration(tmp_path):
    """``--calibration-steps 0`` turns the stage off; it reaches the recipe check, not a settings error."""
    from typer.testing import CliRunner

    from robustcot.cli import app

    args = ["organism", "train", "--out", str(tmp_path), "--calibration-steps", "0", "--recipes", "plian"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "plian" in result.output, result.output


def test_organism_refuses_to_validate_on_the_test_scenes(tmp_path):
    from robustcot.errors import ConfigError
    from robustcot.organism.pipeline import train_organism

    with pytest.raises(ConfigError, match="validation and test scenes must differ"):
        train_organism(0, tmp_path, eval_seed=4, validation_seed=4)
    assert not any(tmp_path.iterdir())  # refused before any training


@pytest.mark.slow
def test_organism_train_command_runs_every_stage_and_resumes(tmp_path):
    """``robustcot organism train``: SFT, GRPO per recipe, the sweep and the blank control all run
    and land in ``--out``; a second call reuses the finished stages instead of retraining."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from robustcot.cli import app
    from robustcot.organism.pipeline import CURVE_VARIANTS
    from robustcot.organism.sft import SFTConfig

    pytest.importorskip("trl")
    args = ["organism", "train", "--seed", "3", "--out", str(tmp_path), "--sft-steps", "2",
            "--sft-threads", "1", "--calibration-steps", "2", "--grpo-steps", "2", "--limit", "4"]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads((tmp_path / "organism.json").read_text())
    assert summary["seed"] == 3 and summary["sft"]["steps"] == 2 and summary["grpo"]["steps"] == 2
    assert summary["sft"]["threads"] == 1 and summary["sft"]["lr"] == SFTConfig().lr  # the rest: the recipe's
    assert summary["calibration"]["steps"] == 2 and summary["calibration"]["seed"] == 3
    assert summary["calibration"]["threads"] == 1  # --sft-threads sets both supervised stages
    assert json.loads((tmp_path / "calibrated" / "organism.json").read_text())["stage"] == "calibration"
    assert set(summary["timings_s"]) == {
        "sft_s",
        "calibration_s",
        "grpo_augmented_s",
        "grpo_plain_s",
        "sweep_s",
        "validation_s",
        "blank_control_s",
    }
    assert {recipe: sorted(steps) for recipe, steps in summary["curves"].items()} == {
        "augmented": ["0", "2"],
        "plain": ["0", "2"],
    }
    # settings are chosen on validation scenes (base variant only), results reported on test scenes
    assert summary["eval"] == {"limit": 4, "seed": 0, "validation_seed": 1}
    assert set(summary["validation"]["plain"]["2"]) == {"acc_base", "entropy_base"}
    validated = pd.read_parquet(tmp_path / "validation" / "curves.parquet")
    assert set(validated["variant"]) == {"base"}
    curves = pd.read_parquet(tmp_path / "curves.parquet")
    assert set(curves["variant"]) == set(CURVE_VARIANTS)
    assert 0.0 <= summary["blank_image_base_accuracy_sft"] <= 1.0

    weights = {stage: (tmp_path / stage / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "calibrated")}
    again = CliRunner().invoke(app, [*args[:-6], "--sft-threads", "2", *args[-6:]])
    assert again.exit_code == 0, again.output
    resumed = json.loads((tmp_path / "organism.json").read_text())
    assert set(resumed["timings_s"]) == {"sweep_s", "validation_s", "blank_control_s"}  # nothing retrained
    assert {stage: (tmp_path / stage / "model.safetensors").stat().st_mtime_ns for stage in weights} == weights
    assert resumed["curves"] == summary["curves"]
    # the summary says what the reused checkpoints were trained with, not what this call asked for
    assert resumed["sft"]["threads"] == resumed["calibration"]["threads"] == 1


def test_packaged_organism_comes_from_the_default_recipe_and_reads_the_image(tmp_path):
    """The shipped checkpoint is what ``train_sft(SFTConfig())`` makes, and it answers from the image:
    on held-out scenes it beats both chance and itself on blank images."""
    import json

    import robustcot.organism.controls  # noqa: F401  (registers synthetic_blank)
    from robustcot.config import EvalConfig
    from robustcot.evaluate import run_eval
    from robustcot.organism.model import PACKAGED, ensure_organism
    from robustcot.organism.pipeline import evaluation_settings
    from robustcot.organism.recipe import ARCHITECTURE
    from robustcot.organism.sft import SFTConfig

    assert ensure_organism(tmp_path / "cache") == PACKAGED  # nothing is trained
    meta = json.loads((PACKAGED / "organism.json").read_text())
    assert meta["sft"] == json.loads(SFTConfig().model_dump_json())
    assert meta["architecture"] == json.loads(json.dumps(ARCHITECTURE))
    hf, batch = evaluation_settings()
    accuracy = {}
    for benchmark in ("synthetic", "synthetic_blank"):
        config = EvalConfig(model="organism", benchmark=benchmark, limit=60, variants=["base"], seed=0,
                            out=tmp_path / benchmark, batch_size=batch, hf=hf)  # fmt: skip
        records = run_eval(config, show_progress=False).records
        formatted = (records["status"] == "ok").mean()
        assert formatted > (0.95 if benchmark == "synthetic" else 0.8), (benchmark, formatted)  # the format is learned
        accuracy[benchmark] = records["correct"].fillna(False).mean()
    assert accuracy["synthetic"] >= 0.65, accuracy  # chance is ~0.4 for this mix of 2-4 options
    assert accuracy["synthetic"] - accuracy["synthetic_blank"] >= 0.15, accuracy
