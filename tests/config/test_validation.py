import copy

import pytest
import yaml

from synthpedia.config import validate_config
from synthpedia.errors import InputError

from conftest import ROOT


@pytest.fixture
def raw_config():
    with open(ROOT / "config.yaml") as fh:
        return yaml.safe_load(fh)


def check(config):
    return validate_config(copy.deepcopy(config), base_dir=ROOT)


def test_default_config_is_valid_and_defaults_are_filled(raw_config):
    config = check(raw_config)
    assert config["dedup"]["hash_bits"] == 32
    assert config["generation"]["stock_openers"]
    assert config["decontamination"]["benchmarks"] == sorted(raw_config["benchmarks"])
    assert config["evaluation"]["tasks"] == sorted(raw_config["benchmarks"])


def test_minimal_config_gets_all_defaults():
    config = validate_config({}, base_dir=ROOT)
    assert config["sources"] == {}
    assert config["generation"]["sampling"] == {
        "max_tokens": 2500, "temperature": 0.6, "top_p": 0.95, "top_k": 50, "repetition_penalty": 1.2,
    }
    assert config["decontamination"]["ngram"] == 10


def test_unknown_key_is_named(raw_config):
    raw_config["generation"]["sampling"]["temprature"] = 0.7
    with pytest.raises(InputError, match=r"config key 'generation\.sampling'.*'temprature'"):
        check(raw_config)


def test_wrong_type_is_named(raw_config):
    raw_config["generation"]["sampling"]["temperature"] = "hot"
    with pytest.raises(InputError, match=r"config key 'generation\.sampling\.temperature': 'hot' is not of type"):
        check(raw_config)


def test_missing_file_is_named(raw_config):
    raw_config["sources"]["wikihow"]["titles"] = "resources/nowhere.tsv"
    with pytest.raises(InputError, match=r"config key 'sources\.wikihow\.titles': file not found: resources/nowhere\.tsv"):
        check(raw_config)


def test_undefined_audience_is_named(raw_config):
    raw_config["sources"]["openstax"]["audiences"].append("astronauts")
    with pytest.raises(InputError, match=r"sources\.openstax\.audiences.*'astronauts'"):
        check(raw_config)


def test_audience_without_instructions_for_the_style(raw_config):
    raw_config["sources"]["wikihow"]["audiences"] = ["college"]
    with pytest.raises(InputError, match=r"audiences\.college\.instructions.*'wikihow'"):
        check(raw_config)


def test_undefined_benchmark_is_named(raw_config):
    raw_config["evaluation"]["tasks"] = ["arc_easy", "squad"]
    with pytest.raises(InputError, match=r"config key 'evaluation\.tasks': benchmark 'squad'"):
        check(raw_config)
