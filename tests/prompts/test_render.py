import polars as pl
import pytest

from synthpedia.prompts import (
    build_prompt_shards,
    prompt_id,
    render_prompts,
    sample_prompts,
    shard_index,
)

SEED_ROW = {
    "seed_id": "s1",
    "source": "openstax",
    "book": "Introduction to Ecology",
    "chapter": "Populations",
    "section": "Population Growth",
    "unit": "Carrying Capacity",
    "previous_units": ["Exponential Growth", "Limits to Growth"],
    "extract": "A population cannot grow forever. Food, space and water run short.",
}


def openstax_spec(**over):
    spec = {
        "audiences": ["young_children", "college"],
        "variants": ["plain", "with_extract"],
        "extract_chars": 600,
        "max_previous_units": 5,
        "sampled_previous_units": [2, 5],
        "shards": 2,
        "max_prompts": None,
    }
    return {**spec, **over}


@pytest.fixture
def audiences(default_config):
    return default_config["audiences"]


def test_openstax_prompt_ids_and_columns(audiences):
    # The exact text per audience is in test_openstax_prompts.py.
    seeds = pl.DataFrame([SEED_ROW])
    prompts = render_prompts("openstax", seeds, openstax_spec(), audiences)
    assert prompts.height == 4  # 2 audiences x 2 variants
    row = prompts.filter((pl.col("audience") == "college") & (pl.col("variant") == "with_extract")).row(0, named=True)
    assert row["prompt_id"] == prompt_id("openstax", "s1", "openstax/textbook.j2", "college", "with_extract")
    assert row["style"] == "textbook" and row["template"] == "openstax/textbook.j2"


def test_plain_variant_has_no_extract_and_first_unit_wording(audiences):
    seeds = pl.DataFrame([{**SEED_ROW, "previous_units": []}])
    prompts = render_prompts("openstax", seeds, openstax_spec(variants=["plain"]), audiences)
    for text in prompts["prompt"]:
        assert "<extract>" not in text
        assert "This is the first unit of the section" in text


def test_audiences_spell_out_different_instructions(audiences):
    seeds = pl.DataFrame([SEED_ROW])
    prompts = render_prompts("openstax", seeds, openstax_spec(variants=["plain"]), audiences)
    kids, college = (prompts.filter(pl.col("audience") == a)["prompt"][0] for a in ("young_children", "college"))
    assert "aged 5 to 10" in kids and "no technical terms" in kids
    assert "rigorous" in college.lower() and "aged 5 to 10" not in college


def test_seed_text_with_template_syntax_is_rendered_literally(audiences):
    evil = "{{ 7 * 7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__ }}"
    seeds = pl.DataFrame([{**SEED_ROW, "unit": evil, "extract": evil}])
    prompts = render_prompts("openstax", seeds, openstax_spec(), audiences)
    for text in prompts["prompt"]:
        assert evil in text
        assert "49" not in text and "looploop" not in text


def test_wikihow_prompt_names_title_and_category(audiences):
    seeds = pl.DataFrame([{"seed_id": "w1", "source": "wikihow", "title": "How to Repot a Cactus", "category": "Gardening"}])
    prompts = render_prompts("wikihow", seeds, {"audiences": ["general", "young_children"]}, audiences)
    assert prompts.height == 2
    general = prompts.filter(pl.col("audience") == "general")["prompt"][0]
    assert general.startswith(
        'Write a long and very detailed wikiHow-style tutorial titled "How to Repot a Cactus", '
        'from the wikiHow category "Gardening", written for a general adult audience.'
    )


def test_shards_are_deterministic_and_complete(audiences):
    rows = [{**SEED_ROW, "seed_id": f"s{i}", "unit": f"Unit {i}"} for i in range(20)]
    seeds = pl.DataFrame(rows)
    a = build_prompt_shards("openstax", seeds, openstax_spec(shards=3), audiences, seed=1)
    b = build_prompt_shards("openstax", seeds, openstax_spec(shards=3), audiences, seed=1)
    assert len(a) == 3
    for x, y in zip(a, b):
        assert x.equals(y)
    ids = pl.concat(a)["prompt_id"]
    assert ids.n_unique() == 80
    for i, shard in enumerate(a):
        assert all(shard_index(p, 3) == i for p in shard["prompt_id"])


def test_sampling_depends_on_config_seed_only(audiences):
    rows = [{**SEED_ROW, "seed_id": f"s{i}", "unit": f"Unit {i}"} for i in range(30)]
    prompts = render_prompts("openstax", pl.DataFrame(rows), openstax_spec(), audiences)
    one = sample_prompts(prompts, 10, seed=1)
    assert one.equals(sample_prompts(prompts, 10, seed=1))
    assert one.height == 10
    assert set(one["prompt_id"]) != set(sample_prompts(prompts, 10, seed=2)["prompt_id"])
    assert sample_prompts(prompts, None, seed=1).height == prompts.height


def _web_seed(style, seed_id):
    return {"seed_id": seed_id, "source": "web", "url": "https://example.org/a", "cluster": 1,
            "topic": "Home Bread Baking", "style": style, "extract": "Knead the dough for ten minutes."}


def test_web_prompt_exact_text(audiences):
    spec = {"audiences": ["general"], "topic_fraction": 0.5}
    # Find one seed the coin gives the topic to, and one it does not (config seed 42).
    rows = [_web_seed("blogpost", f"w{i}") for i in range(40)]
    prompts = render_prompts("web", pl.DataFrame(rows), spec, audiences, seed=42)
    with_topic = prompts.filter(pl.col("variant") == "with_topic")
    plain = prompts.filter(pl.col("variant") == "plain")
    assert with_topic.height and plain.height
    instructions = audiences["general"]["instructions"]["blogpost"].strip()
    expected = (
        'Here is an extract from a web page: "Knead the dough for ten minutes.".\n\n'
        "Write a long, informative blog post for a general adult audience, related to this extract, within the "
        'context of "Home Bread Baking". Pick one idea from the extract and go further than it does: bring fresh '
        "perspectives and a deeper analysis, and make it engaging by illustrating each point with concrete "
        "examples.\n"
        f"{instructions}\n\n"
        # The original's blog posts: no title, no "Have you ever" opening, no greeting to the readers.
        'Do not copy the extract and do not give the post a title. Do not open with "Have you ever", with a '
        "greeting to the readers or with an introduction about yourself: start directly with the first idea.\n"
    )
    assert with_topic["prompt"][0] == expected
    assert plain["prompt"][0] == expected.replace(', within the context of "Home Bread Baking"', "")
    # About half get the topic; a different config seed flips coins, not the prompts' set of seeds.
    assert 10 <= with_topic.height <= 30
    other = render_prompts("web", pl.DataFrame(rows), spec, audiences, seed=7)
    assert set(other["seed_id"]) == set(prompts["seed_id"])
    assert set(other.filter(pl.col("variant") == "with_topic")["seed_id"]) != set(with_topic["seed_id"])


WEB_STYLE_BODIES = {
    "wikihow": (
        "Write a long and very detailed wikiHow-style tutorial for a general adult audience, on a task related to "
        'this extract, within the context of "Home Bread Baking". Give it a "How to ..." title, then organise it as '
        "numbered steps. For each step explain what to do, why it helps reach the goal, and the key tips and "
        "mistakes to avoid, so that a reader can follow it without any other help.",
        "Do not use images, and start directly with the tutorial: no greeting and no introduction about yourself.",
    ),
    # College students; a narrative in the manner of a named popular non-fiction storyteller; current trends,
    # real-life examples or recent studies.
    "textbook_narrative": (
        "Write a long and detailed course unit for a textbook for college students, related to this extract, "
        'within the context of "Home Bread Baking". Tell it as a narrative, the way a popular non-fiction '
        "storyteller such as Malcolm Gladwell or Mary Roach would: introduce each idea through a person, a "
        "situation or a puzzle, then explain it fully before going on. Connect the ideas to current trends, "
        "real-life examples or recent studies. Go deep on a few concepts rather than touching many.",
        "Do not copy the extract, do not give the unit a title or an introduction about yourself, and do not use "
        "images: start directly with the content.",
    ),
    # College students; rigour, an academic and engaging tone, applications such as proofs or key dates;
    # no title, no introduction, no headlines, no images.
    "textbook_academic": (
        "Write a long and detailed course unit for a textbook for college students, related to this extract, "
        'within the context of "Home Bread Baking". Be rigorous: develop each concept in depth before moving to '
        "the next one, with precise definitions and the reasoning or evidence behind it. Keep an academic, "
        "engaging tone. Make it applied: work through concrete examples such as a proof, a calculation, or the "
        "key dates and figures of a historical case. Prefer depth of understanding over breadth.",
        "Do not copy the extract. Give no title, no introduction and no headlines, and do not use images: start "
        "directly with the content.",
    ),
}


@pytest.mark.parametrize("style", sorted(WEB_STYLE_BODIES))
def test_web_prompt_exact_text_per_style(audiences, style):
    topic_style = "wikihow" if style == "wikihow" else "textbook"
    rows = [_web_seed(topic_style, f"w{i}") for i in range(60)]
    prompts = render_prompts("web", pl.DataFrame(rows), {"audiences": ["general"], "topic_fraction": 0.5}, audiences, seed=42)
    row = prompts.filter((pl.col("style") == style) & (pl.col("variant") == "with_topic"))
    assert row.height
    body, closing = WEB_STYLE_BODIES[style]
    instructions = audiences["general"]["instructions"][style].strip()
    assert row["prompt"][0] == (
        f'Here is an extract from a web page: "Knead the dough for ten minutes.".\n\n{body}\n{instructions}\n\n'
        f"{closing}\n"
    )


def test_web_extract_keeps_its_line_breaks(audiences):
    from synthpedia.prompts import cut_text

    page = "Sourdough basics\n\n\n  Feed the starter   twice a day.\nKeep it warm.\n" + "More text. " * 200
    extract = cut_text(page, 1000)
    assert extract.startswith("Sourdough basics\n\nFeed the starter twice a day.\nKeep it warm.\n")
    assert len(extract) <= 1000
    row = {**_web_seed("blogpost", "w1"), "extract": extract}
    prompt = render_prompts("web", pl.DataFrame([row]), {"audiences": ["general"], "topic_fraction": 0.0}, audiences)
    assert "Sourdough basics\n\nFeed the starter twice a day.\nKeep it warm." in prompt["prompt"][0]


def test_wikihow_prompt_exact_text_per_audience(audiences):
    # wikiHow: a tutorial of numbered steps, each explained with how it helps and its key tips; no images.
    seeds = pl.DataFrame([{"seed_id": "w1", "source": "wikihow", "title": "How to Repot a Cactus", "category": "Gardening"}])
    prompts = render_prompts("wikihow", seeds, {"audiences": ["general", "young_children"]}, audiences)
    for audience in ("general", "young_children"):
        text = prompts.filter(pl.col("audience") == audience)["prompt"][0]
        assert text == (
            'Write a long and very detailed wikiHow-style tutorial titled "How to Repot a Cactus", from the wikiHow '
            f'category "Gardening", written for {audiences[audience]["label"]}.\n'
            "Organise it as numbered steps. For each step explain what to do, why it helps reach the goal, and the "
            "key tips and mistakes to avoid, so that a reader can follow it without any other help.\n"
            + audiences[audience]["instructions"]["wikihow"].strip()
            + "\n\nDo not use images, and start directly with the tutorial: no greeting and no introduction about "
            "yourself.\n"
        )
