"""Stock-opener cleanup: boilerplate sentences that open any line of a generation go, the text
around them and real sentences that merely start with the same words stay."""

import pytest

from synthpedia.generate import strip_stock_openers


@pytest.fixture
def openers(default_config):
    return default_config["generation"]["stock_openers"]


def test_default_list_holds_the_originals_openers(openers):
    for opener in ("Hello", "My name is", "Welcome", "Warning:", "We're thrilled", "You've just arrived"):
        assert opener in openers
    # Reply preambles count at the start of the text only.
    assert {"^Sure", "^Certainly", "^Of course"} <= set(openers)


def test_textbook_with_a_title_then_a_welcome(openers):
    text = (
        "# Unit 4: Photosynthesis\n"
        "\n"
        "Welcome to Unit 4, young scientists! In this unit we follow a sunbeam into a leaf.\n"
        "\n"
        "Plants make sugar from carbon dioxide and water. Of course, they need light to do it.\n"
        "\n"
        "## 4.1 Chloroplasts\n"
        "Chloroplasts hold chlorophyll, the pigment that absorbs red and blue light."
    )
    assert strip_stock_openers(text, openers) == (
        "# Unit 4: Photosynthesis\n"
        "\n"
        "In this unit we follow a sunbeam into a leaf.\n"
        "\n"
        "Plants make sugar from carbon dioxide and water. Of course, they need light to do it.\n"
        "\n"
        "## 4.1 Chloroplasts\n"
        "Chloroplasts hold chlorophyll, the pigment that absorbs red and blue light."
    )


def test_greeting_lines_inside_the_text_are_dropped_with_their_blank_line(openers):
    text = (
        "Sure! Here is a blog post about budgeting for students.\n"
        "\n"
        "Hello, everyone!\n"
        "\n"
        "My name is Dr. Patel and I teach personal finance. Budgeting starts with a list of what comes in.\n"
        "\n"
        "Rent, food and books come first.\n"
        "We're thrilled you are here.\n"
        "Savings come next, even small ones.\n"
        "\n"
        "Warning: prices below are from 2023. Check your local prices.\n"
        "\n"
        "You've just arrived at the end of the post."
    )
    assert strip_stock_openers(text, openers) == (
        "Here is a blog post about budgeting for students.\n"
        "\n"
        "Budgeting starts with a list of what comes in.\n"
        "\n"
        "Rent, food and books come first.\n"
        "Savings come next, even small ones.\n"
        "\n"
        "Check your local prices."
    )


def test_reply_preambles_go_only_at_the_start(openers):
    text = "Of course! Here is the story.\n\nThe tide was out.\nOf course, nobody had told Mira.\nCertainly not her brother."
    assert strip_stock_openers(text, openers) == (
        "Here is the story.\n\nThe tide was out.\nOf course, nobody had told Mira.\nCertainly not her brother."
    )


def test_real_content_is_kept(openers):
    text = (
        "Welcomed by the townspeople, the settlers built a mill.\n"
        "\n"
        "Helium is lighter than air, so the balloon rose. The crowd said hello to the pilot.\n"
        "  Greetingsville, a village in the story, had one bridge.\n"
        "## Welcome to the Cell\n"
        "- Hello-world programs print one line.\n"
        "\"Hello,\" said Tom, \"welcome home.\""
    )
    # Openers inside a line, inside a longer word, after markup or a quote are no openers.
    assert strip_stock_openers(text, openers) == text


def test_welcome_as_content_goes_when_it_opens_a_line(openers):
    # The rule is the original's: an opener at a line start is stripped whatever follows it, so a
    # sentence about welcome mats goes too; the sentence after it stays.
    assert strip_stock_openers("Doors and floors.\nWelcome mats date from Roman times. They trap grit.",
                               openers) == "Doors and floors.\nThey trap grit."


def test_text_without_openers_is_unchanged_byte_for_byte(openers):
    text = "Line one.\n\n\nLine two after two blank lines.\n   indented line\nlast"
    assert strip_stock_openers(text, openers) == text


def test_curly_apostrophes_and_closing_quotes(openers):
    text = "We\u2019re thrilled to share this recipe!\u201d Mix the flour first.\nThen add water."
    assert strip_stock_openers(text, openers) == "Mix the flour first.\nThen add water."


def test_only_openers_leaves_nothing(openers):
    assert strip_stock_openers("Hello!\n\nWelcome to class.\nMy name is Ana", openers) == ""
