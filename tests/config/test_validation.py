import copy
import re

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


def test_per_task_settings_name_a_benchmark_but_may_outlive_a_narrowed_task_list(raw_config):
    raw_config["evaluation"]["tasks"] = ["arc_easy"]  # the default's gsm8k settings stay, unused
    assert "gsm8k" in check(copy.deepcopy(raw_config))["evaluation"]["per_task"]
    raw_config["evaluation"]["per_task"]["gsm8kk"] = {"num_fewshot": 5}
    with pytest.raises(InputError, match=r"config key 'evaluation\.per_task\.gsm8kk': benchmark 'gsm8kk'"):
        check(raw_config)


def test_openbookqa_format_validates(raw_config):
    raw_config["benchmarks"]["openbookqa"]["format"] = "openbookqa"
    config = check(raw_config)
    assert config["benchmarks"]["openbookqa"]["format"] == "openbookqa"


@pytest.mark.parametrize(
    "section, key",
    [(("train", "mixture"), "train.mixture.openstx"), (("decontamination", "groups"), "decontamination.groups.mine")],
)
def test_a_mixture_or_group_naming_an_unknown_source_names_the_key(raw_config, section, key):
    outer, inner = section
    raw_config.setdefault(outer, {})
    if inner == "mixture":
        raw_config[outer]["mixture"] = {"openstx": 0.0}
    else:
        raw_config[outer]["groups"] = {"mine": ["openstax", "wikihoww"]}
    with pytest.raises(InputError, match=rf"config key '{re.escape(key)}': '(openstx|wikihoww)' is not a source"):
        check(raw_config)


def test_a_secret_pasted_as_the_key_variable_is_never_echoed(raw_config):
    secret = "sk-live-1234567890abcdef"
    raw_config["generation"] = {"backend": "openai", "openai": {"base_url": "http://x/v1", "api_key_env": secret}}
    with pytest.raises(InputError, match=r"config key 'generation\.openai\.api_key_env'") as err:
        check(raw_config)
    assert secret not in str(err.value) and "1234567890" not in str(err.value)


def test_a_folder_given_as_a_file_fails_before_any_job(raw_config):
    raw_config["sources"]["wikihow"]["titles"] = "resources/wikihow"
    with pytest.raises(InputError, match=r"config key 'sources\.wikihow\.titles': resources/wikihow is a folder"):
        check(raw_config)


def test_a_benchmark_file_that_is_not_its_declared_format_fails_before_any_job(raw_config):
    arc = next(name for name, spec in raw_config["benchmarks"].items() if spec["format"] == "arc")
    raw_config["benchmarks"][arc]["format"] = "hellaswag"
    path = raw_config["benchmarks"][arc]["path"]
    with pytest.raises(InputError) as err:
        check(raw_config)
    message = str(err.value)
    assert f"benchmarks.{arc}" in message and path in message and "line 1" in message
