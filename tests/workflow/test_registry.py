"""Every enum of the config schema agrees with the registry, the loaders and the code behind it."""

from importlib import import_module

import pytest

from conftest import ROOT
from synthpedia.registry import load_schema, registry
from synthpedia.tables import SEED_COLUMNS

SCHEMA = load_schema()
SOURCES = SCHEMA["properties"]["sources"]["properties"]


def test_every_schema_source_has_a_registry_record_and_the_registry_nothing_else():
    sources = {name for name, record in registry().items() if not record.is_step}
    assert sources == set(SOURCES)
    for record in registry().values():
        assert record.section in SOURCES


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_loader_module_provides_the_registry_interface(name):
    module = import_module(registry()[name].module)
    if registry()[name].imports:  # generations made elsewhere: an import module, no seeds
        assert registry()[name].imports in module.IMPORTERS and callable(module.import_job)
        return
    assert tuple(module.COLUMNS)[: len(SEED_COLUMNS)] == SEED_COLUMNS
    assert callable(module.load_seeds) and callable(module.prompt_contexts)


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_style_has_its_template(name):
    record = registry()[name]
    for style in record.styles:
        assert (ROOT / "templates" / record.template(style)).is_file()


def test_style_enums_are_the_registered_styles():
    for name, entry in SOURCES.items():
        styles = entry["properties"].get("styles")
        if styles:
            assert tuple(styles["items"]["enum"]) == registry()[name].styles
            assert set(styles["default"]) <= set(styles["items"]["enum"])


def test_input_keys_are_required_config_keys():
    for name, entry in SOURCES.items():
        assert set(registry()[name].inputs) <= set(entry["required"])


def test_benchmark_formats_are_the_loaders_formats():
    from synthpedia.benchsets import BENCHMARK_FORMATS

    assert set(SCHEMA["definitions"]["benchmark"]["properties"]["format"]["enum"]) == set(BENCHMARK_FORMATS)
    assert "openbookqa" in BENCHMARK_FORMATS


def test_generation_backends_are_the_implemented_backends():
    from synthpedia.generate import make_backend  # noqa: F401 (the factory behind the names)
    from synthpedia.workflow import BACKENDS, RUNTIME_KEYS

    generation = SCHEMA["properties"]["generation"]["properties"]
    assert tuple(generation["backend"]["enum"]) == BACKENDS == tuple(RUNTIME_KEYS)
    for backend in BACKENDS:
        assert backend in generation  # each backend has its settings section


def test_decontamination_groups_name_sources():
    groups = SCHEMA["properties"]["decontamination"]["properties"]["groups"]["default"]
    assert {source for members in groups.values() for source in members} <= set(SOURCES)


def test_web_extractors_and_filters_are_the_implemented_ones():
    from synthpedia.web.extract import EXTRACTORS
    from synthpedia.web.filter import web_filter_classes

    web = SOURCES["web"]["properties"]
    assert tuple(web["extractor"]["enum"]) == EXTRACTORS
    assert list(web["filters"]["properties"]) == list(web_filter_classes())

