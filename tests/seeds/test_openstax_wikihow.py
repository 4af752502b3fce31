"""Seed loaders: the bundled book and titles, the real OpenStax U.S. History book, and bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from synthpedia.errors import InputError
from synthpedia.registry import registry
from synthpedia.seeds import load_seeds
from synthpedia.seeds.openstax import OPENSTAX_COLUMNS, display_title, load_openstax
from synthpedia.seeds.wikihow import WIKIHOW_COLUMNS, load_wikihow

ROOT = Path(__file__).resolve().parents[2]
ECOLOGY = ROOT / "resources" / "openstax" / "introduction-to-ecology"
ECOLOGY_COLLECTION = ECOLOGY / "collections" / "introduction-to-ecology.collection.xml"
WIKIHOW_TSV = ROOT / "resources" / "wikihow" / "titles.tsv"
SHARED_DATA = ROOT.parent / "shared" / "data"
US_HISTORY = SHARED_DATA / "openstax_us_history" / "collections" / "us-history.collection.xml"
WIKIHOW_REAL = SHARED_DATA / "topics_wikihow_titles"


@pytest.fixture(scope="module")
def ecology() -> pl.DataFrame:
    return load_openstax([str(ECOLOGY_COLLECTION)])


@pytest.fixture()
def book_copy(tmp_path) -> Path:
    """A writable copy of the bundled book; returns its collection file."""
    shutil.copytree(ECOLOGY, tmp_path / "book")
    return tmp_path / "book" / "collections" / ECOLOGY_COLLECTION.name


def _unit(df: pl.DataFrame, title: str) -> dict:
    rows = df.filter(pl.col("unit") == title).to_dicts()
    assert len(rows) == 1, title
    return rows[0]


# ---- bundled OpenStax book -------------------------------------------------------------------


def test_bundled_book_has_every_unit_in_book_order(ecology):
    assert ecology.columns == list(OPENSTAX_COLUMNS)
    assert ecology.height == 17
    assert ecology["unit"].to_list()[:5] == [
        # The chapter-opening module (text directly under <content>), titled "Introduction": named after its chapter.
        "Introduction to Organisms and Their Environment",
        "Introduction",  # the paragraph before the first section of m90011
        "Levels of Ecological Organization",
        "Biotic and Abiotic Factors",
        "Habitats and Niches",
    ]
    assert set(ecology["source"]) == {"openstax"}
    assert set(ecology["book"]) == {"Introduction to Ecology"}
    assert ecology["seed_id"].n_unique() == 17


def test_bundled_book_outline_fields(ecology):
    per_section = ecology.group_by("module_id", maintain_order=True).agg(pl.len())
    assert per_section.rows() == [
        ("m90010", 1),
        ("m90011", 4),
        ("m90012", 4),
        ("m90020", 1),
        ("m90021", 4),
        ("m90022", 3),
    ]
    row = _unit(ecology, "Exponential Growth")
    assert row["chapter"] == "Populations and Communities"
    assert row["chapter_index"] == 2
    assert row["section"] == "Population Growth"
    # The chapter's introduction module is unnumbered, as in the printed book: this is section 2.1.
    assert row["section_index"] == 1
    assert row["unit_index"] == 2


def test_previous_units_are_the_earlier_units_of_the_same_section(ecology):
    assert _unit(ecology, "Microclimates")["previous_units"] == [
        "Solar Energy and Latitude",
        "Global Patterns of Temperature and Precipitation",
        "Biomes",
    ]
    # First unit of a section: nothing before it, even though another section precedes it.
    assert _unit(ecology, "Competition")["previous_units"] == []


def test_extract_is_running_text_only(ecology):
    factors = _unit(ecology, "Biotic and Abiotic Factors")["extract"]
    assert factors.startswith("The environment of any organism has two kinds of parts. Biotic factors are")
    assert "  " not in factors and "\n\n" in factors  # whitespace normalised, paragraphs kept apart
    assert "tide pool is shaped by" not in factors  # figure caption left out
    niches = _unit(ecology, "Habitats and Niches")["extract"]
    assert "Field ecologists spend" not in niches  # sidebar note left out
    biomes = _unit(ecology, "Biomes")["extract"]
    assert "savanna, a tropical grassland with scattered trees" in biomes  # list items kept
    symbiosis = _unit(ecology, "Symbiosis")["extract"]
    assert "Mutualism" in symbiosis and "tapeworms live in the gut" in symbiosis  # nested sections kept
    all_text = " ".join(ecology["extract"])
    assert "Section Summary" not in all_text and "Which of the following" not in all_text


def test_preface_and_end_matter_are_not_units_but_opening_text_is(ecology):
    assert "m90001" not in set(ecology["module_id"])  # the preface sits outside any chapter
    assert not set(ecology["unit"]) & {"How to Use This Book", "Section Summary", "Review Questions"}
    opening = ecology.filter(pl.col("module_id") == "m90010").row(0, named=True)
    assert opening["section_index"] == 0 and opening["extract"].startswith("A pond, a rotting log")
    lead = ecology.filter(pl.col("module_id") == "m90011").row(0, named=True)
    assert lead["unit"] == "Introduction" and lead["extract"].startswith("Ecology is the study of how organisms")
    # The real first unit comes second, with the opening text as the one unit already covered.
    assert _unit(ecology, "Levels of Ecological Organization")["previous_units"] == ["Introduction"]


def test_seed_ids_are_stable_and_independent_of_location(ecology, book_copy):
    again = load_openstax([str(ECOLOGY_COLLECTION)])
    assert again.equals(ecology)
    moved = load_openstax([str(book_copy)])
    assert moved["seed_id"].to_list() == ecology["seed_id"].to_list()


def test_max_extract_chars_cuts_at_a_word_boundary():
    df = load_openstax([str(ECOLOGY_COLLECTION)], max_extract_chars=120)
    full = load_openstax([str(ECOLOGY_COLLECTION)])
    assert df["extract"].str.len_chars().max() <= 120
    for cut, whole in zip(df["extract"], full["extract"]):
        assert whole.startswith(cut)
        assert len(cut) == len(whole) or whole[len(cut)] in " \n"


def test_load_seeds_reads_the_config_section(ecology):
    df = load_seeds("openstax", {"books": [str(ECOLOGY_COLLECTION)], "shards": 2, "extract_chars": 600})
    assert df.equals(ecology)
    assert set(registry()) >= {"openstax", "wikihow"}


# ---- real OpenStax book ----------------------------------------------------------------------


@pytest.mark.skipif(not US_HISTORY.exists(), reason="shared OpenStax U.S. History data absent")
def test_real_us_history_book_loads():
    df = load_openstax([str(US_HISTORY)])
    assert df["chapter"].n_unique() > 10
    assert df.height > 100
    assert df["extract"].str.len_chars().min() > 0
    assert df["seed_id"].n_unique() == df.height
    assert df.filter(pl.col("unit").is_in(["Section Summary", "Review Questions"])).height == 0
    olmec = df.filter(pl.col("module_id") == "m49986")
    assert olmec["section"][0] == "The Americas"
    assert olmec["chapter_index"][0] == 1 and olmec["section_index"][0] == 1
    assert olmec["unit"].to_list()[:4] == ["Introduction", "The First Americans: The Olmec", "The Maya", "The Aztec"]
    assert olmec["previous_units"][3].to_list() == ["Introduction", "The First Americans: The Olmec", "The Maya"]
    assert "Teotihuacan" in olmec["extract"][2]


def test_all_capital_titles_are_recased():
    assert display_title("NATIVE PEOPLES OF THE  EASTERN WOODLAND") == "Native Peoples of the Eastern Woodland"
    assert display_title("JAMES II AND THE GLORIOUS REVOLUTION") == "James II and the Glorious Revolution"
    assert display_title("PATRONAGE: THE SPOILS VS CIVIL SERVICE") == "Patronage: The Spoils vs Civil Service"
    assert display_title("ADAMS-ONÍS TREATY") == "Adams-Onís Treaty"
    assert display_title("Charles II and the Restoration Colonies") == "Charles II and the Restoration Colonies"


# ---- malformed OpenStax input ----------------------------------------------------------------


def test_truncated_module_xml_names_file_and_line(book_copy):
    module = book_copy.parents[1] / "modules" / "m90012" / "index.cnxml"
    text = module.read_text()
    module.write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"module m90012 is not well-formed XML at line \d+") as err:
        load_openstax([str(book_copy)])
    assert str(module) in str(err.value)


def test_truncated_collection_names_file(book_copy):
    book_copy.write_text(book_copy.read_text()[:400])
    with pytest.raises(InputError, match="collection file is not well-formed XML at line") as err:
        load_openstax([str(book_copy)])
    assert str(book_copy) in str(err.value)


def test_missing_module_names_module_and_collection(book_copy):
    shutil.rmtree(book_copy.parents[1] / "modules" / "m90021")
    with pytest.raises(InputError, match="module m90021 .*Populations and Communities") as err:
        load_openstax([str(book_copy)])
    assert str(book_copy) in str(err.value)


def test_module_without_title_names_module(book_copy):
    module = book_copy.parents[1] / "modules" / "m90022" / "index.cnxml"
    text = module.read_text()
    text = text.replace("<title>Interactions Between Species</title>", "", 1)
    text = text.replace("<md:title>Interactions Between Species</md:title>", "", 1)
    module.write_text(text)
    with pytest.raises(InputError, match="module m90022 has no title") as err:
        load_openstax([str(book_copy)])
    assert str(module) in str(err.value)


def test_chapter_without_title_names_chapter(book_copy):
    book_copy.write_text(book_copy.read_text().replace("<md:title>Populations and Communities</md:title>", ""))
    with pytest.raises(InputError, match="chapter 2 .*m90020.* has no md:title") as err:
        load_openstax([str(book_copy)])
    assert str(book_copy) in str(err.value)


def test_collection_without_chapters_is_rejected(tmp_path):
    path = tmp_path / "empty" / "collections" / "empty.collection.xml"
    path.parent.mkdir(parents=True)
    path.write_text(
        '<col:collection xmlns="http://cnx.rice.edu/collxml" xmlns:md="http://cnx.rice.edu/mdml" '
        'xmlns:col="http://cnx.rice.edu/collxml"><metadata><md:title>Empty</md:title></metadata>'
        "<col:content/></col:collection>"
    )
    with pytest.raises(InputError, match="book 'Empty' has no chapter") as err:
        load_openstax([str(path)])
    assert str(path) in str(err.value)


def test_missing_collection_and_empty_book_list(tmp_path):
    with pytest.raises(InputError, match="collection file not found"):
        load_openstax([str(tmp_path / "nope.collection.xml")])
    with pytest.raises(InputError, match="sources.openstax.books"):
        load_openstax([])


# ---- wikiHow ---------------------------------------------------------------------------------


def test_bundled_wikihow_tsv(tmp_path):
    df = load_wikihow(str(WIKIHOW_TSV))
    assert df.columns == list(WIKIHOW_COLUMNS)
    assert df.height == 32
    assert df.row(0, named=True)["title"] == "How to Repot a Houseplant"
    assert df.row(0, named=True)["category"] == "Home and Garden"
    assert df["category"].null_count() == 0
    assert load_wikihow(str(WIKIHOW_TSV))["seed_id"].to_list() == df["seed_id"].to_list()


def test_wikihow_txt_skips_blanks_and_duplicates(tmp_path):
    path = tmp_path / "titles.txt"
    path.write_text("How to Tie a Tie  \n\n   \nHow to Boil an Egg\nHow to Tie a Tie\n")
    df = load_wikihow(str(path))
    assert df["title"].to_list() == ["How to Tie a Tie", "How to Boil an Egg"]
    assert df["category"].to_list() == [None, None]
    assert df["source"].to_list() == ["wikihow", "wikihow"]


def test_wikihow_tsv_without_header_and_empty_category(tmp_path):
    path = tmp_path / "titles.tsv"
    path.write_text("How to Boil an Egg\tFood\nHow to Knit\t\nHow to Boil an Egg\tCooking\n")
    df = load_wikihow(str(path))
    assert df.rows() == [
        (df["seed_id"][0], "wikihow", "How to Boil an Egg", "Food"),  # first copy wins
        (df["seed_id"][1], "wikihow", "How to Knit", None),
    ]
    via_registry = load_seeds("wikihow", {"titles": str(path), "audiences": ["general"]})
    assert via_registry.equals(df)


def test_wikihow_tsv_line_with_empty_title_names_file_and_line(tmp_path):
    path = tmp_path / "titles.tsv"
    path.write_text("title\tcategory\nHow to Knit\tHobbies\n\tHealth\n")
    with pytest.raises(InputError, match="line 3 has an empty title") as err:
        load_wikihow(str(path))
    assert str(path) in str(err.value)


def test_wikihow_bad_files(tmp_path):
    with pytest.raises(InputError, match="titles file not found"):
        load_wikihow(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no titles"):
        load_wikihow(str(empty))
    wide = tmp_path / "wide.tsv"
    wide.write_text("How to Knit\tHobbies\textra\n")
    with pytest.raises(InputError, match="line 1 has 3 tab-separated fields"):
        load_wikihow(str(wide))


@pytest.mark.skipif(not WIKIHOW_REAL.exists(), reason="shared wikiHow titles absent")
def test_real_wikihow_files_load():
    by_category = load_wikihow(str(WIKIHOW_REAL / "wikihow_titles_by_category.tsv"))
    # The real file's header is "category<TAB>title": the header sets the column order.
    first = by_category.row(0, named=True)
    assert first["category"] == "Arts-and-Entertainment"
    assert first["title"] == "how to be talented in multiple areas"
    assert by_category.height == by_category["title"].n_unique() > 5000
    titles = load_wikihow(str(WIKIHOW_REAL / "all_test.txt"))
    assert titles.height > 5000 and titles["category"].null_count() == titles.height


# ---- registry --------------------------------------------------------------------------------


def test_load_seeds_errors_name_the_config_key():
    with pytest.raises(InputError, match="sources.stanfordx"):
        load_seeds("stanfordx", {})
    with pytest.raises(InputError, match="sources.openstax.books"):
        load_seeds("openstax", {"shards": 1})
    with pytest.raises(InputError, match="sources.wikihow.titles"):
        load_seeds("wikihow", {})


def test_book_or_module_listed_twice_is_rejected(book_copy):
    with pytest.raises(InputError, match="book 'introduction-to-ecology' is given more than once"):
        load_openstax([str(ECOLOGY_COLLECTION), str(book_copy)])
    text = book_copy.read_text().replace('<col:module document="m90022"/>', '<col:module document="m90011"/>')
    book_copy.write_text(text)
    with pytest.raises(InputError, match="module m90011 is listed more than once") as err:
        load_openstax([str(book_copy)])
    assert str(book_copy) in str(err.value)


def test_wikihow_tsv_header_in_another_shape_is_read_not_taken_as_a_title(tmp_path):
    path = tmp_path / "titles.tsv"
    path.write_text("URL\tTitle\tCategory\nhttps://w.example/1\tHow to Knit\tHobbies\nhttps://w.example/2\tHow to Swim\t\n")
    df = load_wikihow(str(path))
    assert df.select("title", "category").rows() == [("How to Knit", "Hobbies"), ("How to Swim", None)]
    only_titles = tmp_path / "only.tsv"
    only_titles.write_text("Title\nHow to Knit\n")
    assert load_wikihow(str(only_titles)).select("title", "category").rows() == [("How to Knit", None)]


def test_wikihow_tsv_header_without_title_column_is_an_error(tmp_path):
    path = tmp_path / "titles.tsv"
    path.write_text("url\tcategory\nhttps://w.example/1\tHobbies\n")
    with pytest.raises(InputError, match=r"line 1 is a header without a title column \(it has: url, category\)") as err:
        load_wikihow(str(path))
    assert str(path) in str(err.value)


def test_wikihow_titles_lose_nul_and_control_bytes(tmp_path):
    path = tmp_path / "titles.tsv"
    path.write_bytes(b"title\tcategory\nHow to\x00 Bake\x07 Bread\x1b\tFood\x7f\n")
    df = load_wikihow(str(path))
    assert df.select("title", "category").rows() == [("How to Bake Bread", "Food")]
