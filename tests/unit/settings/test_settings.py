from __future__ import annotations

from pathlib import Path

import pytest

from aistack.settings import SettingsError, load_settings
from aistack.settings.loader import deep_merge, expand_variables

pytestmark = pytest.mark.unit


def test_defaults_serve_the_embedded_model_on_localhost(settings_dir: Path) -> None:
    settings = load_settings()
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.llm.backend == "llamacpp"
    assert list(settings.llm.llamacpp.models) == ["smollm2-135m-instruct"]
    assert settings.home == Path.home() / ".local" / "share" / "aistack"


def test_profiles_merge_in_order_over_the_base(settings_dir: Path) -> None:
    (settings_dir / "settings-a.yaml").write_text("server: {port: 9001, log_format: text}\n")
    (settings_dir / "settings-b.yaml").write_text("server: {port: 9002}\n")
    settings = load_settings(environ={"AISTACK_PROFILES": "a,b", "AISTACK_SETTINGS_DIR": str(settings_dir)})
    assert settings.server.port == 9002  # b wins over a
    assert settings.server.log_format == "text"  # a's other keys survive


def test_bundled_test_and_production_profiles(settings_dir: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k1\n# a comment\n\nk2\n")
    env = {"AISTACK_SETTINGS_DIR": str(settings_dir), "AISTACK_API_KEYS_FILE": str(keys),
           "VLLM_BASE_URL": "http://10.0.0.5:8000/v1", "VLLM_API_KEY_FILE": ""}
    prod = load_settings(environ=env, profiles=["production"])
    assert prod.llm.backend == "openai"
    assert prod.llm.openai.base_url == "http://10.0.0.5:8000/v1"
    assert prod.llm.openai.api_key is None  # empty *_file means none
    assert [k.get_secret_value() for k in prod.server.api_keys] == ["k1", "k2"]
    test = load_settings(environ={"AISTACK_SETTINGS_DIR": str(settings_dir)}, profiles=["test"])
    assert test.llm.llamacpp.models["smollm2-135m-instruct"].n_ctx == 1024


def test_unknown_profile_names_the_bundled_ones(settings_dir: Path) -> None:
    with pytest.raises(SettingsError, match="profile 'nope' not found.*production"):
        load_settings(profiles=["nope"])


def test_environment_overrides_yaml_and_nests_with_double_underscore(settings_dir: Path) -> None:
    (settings_dir / "settings.yaml").write_text("server: {port: 9001}\n")
    env = {"AISTACK_SETTINGS_DIR": str(settings_dir), "AISTACK_SERVER__PORT": "9100",
           "AISTACK_HOME": "/srv/aistack", "AISTACK_SERVER__API_KEYS": "[a, b]",
           "AISTACK_LLM__LLAMACPP__MODELS__SMOLLM2-135M-INSTRUCT__N_THREADS": "2"}
    settings = load_settings(environ=env)
    assert settings.server.port == 9100
    assert settings.home == Path("/srv/aistack")
    assert len(settings.server.api_keys) == 2
    assert settings.llm.llamacpp.models["smollm2-135m-instruct"].n_threads == 2


def test_variable_expansion_with_and_without_default() -> None:
    tree = {"a": "${X}", "b": ["${Y:fallback}", "x-${X}-y"], "c": 3}
    assert expand_variables(tree, {"X": "1"}) == {"a": "1", "b": ["fallback", "x-1-y"], "c": 3}
    with pytest.raises(SettingsError, match="MISSING is not set"):
        expand_variables("${MISSING}", {})


def test_secret_file_is_read_and_masked(settings_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "upstream-key"
    secret.write_text("s3cr3t\n")
    settings = load_settings(environ={"AISTACK_SETTINGS_DIR": str(settings_dir),
                                      "AISTACK_LLM__OPENAI__API_KEY_FILE": str(secret)})
    assert settings.llm.openai.api_key.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in str(settings.model_dump(mode="json"))


def test_missing_secret_file_is_a_clear_error(settings_dir: Path) -> None:
    with pytest.raises(SettingsError, match="llm.openai.*cannot read api_key_file /nonexistent"):
        load_settings(environ={"AISTACK_SETTINGS_DIR": str(settings_dir),
                               "AISTACK_LLM__OPENAI__API_KEY_FILE": "/nonexistent"})


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AISTACK_LLM__BACKEND", "nope", r"llm.backend: Value error, 'nope' is not a backend; choose one of: llamacpp, "
         r"openai, slots, fake \(or install a plugin that adds one\) \(got 'nope'\)"),
        ("AISTACK_SERVER__PORT", "70000", r"server.port: Input should be less than or equal to 65535"),
        ("AISTACK_SERVER__TYPO", "1", r"server.typo: Extra inputs are not permitted"),
    ],
)
def test_invalid_values_name_the_field_and_what_is_allowed(settings_dir: Path, variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings(environ={"AISTACK_SETTINGS_DIR": str(settings_dir), variable: value})


def test_bad_yaml_names_the_file(settings_dir: Path) -> None:
    (settings_dir / "settings.yaml").write_text("server: [unclosed\n")
    with pytest.raises(SettingsError, match="settings.yaml: not valid YAML"):
        load_settings(environ={"AISTACK_SETTINGS_DIR": str(settings_dir)})


def test_deep_merge_replaces_lists_and_merges_dicts() -> None:
    assert deep_merge({"a": {"x": 1, "y": [1]}}, {"a": {"y": [2]}}) == {"a": {"x": 1, "y": [2]}}


def test_an_alert_override_keeps_the_fields_it_does_not_name(settings_dir: Path) -> None:
    (settings_dir / "settings.yaml").write_text("observability: {alerts: {high_error_rate: {threshold: 0.1}}}\n")
    env = {"AISTACK_SETTINGS_DIR": str(settings_dir), "AISTACK_OBSERVABILITY__ALERTS__QUEUE_SATURATED__FOR": "10m"}
    alerts = load_settings(environ=env).observability.alerts
    assert (alerts.high_error_rate.threshold, alerts.high_error_rate.for_, alerts.high_error_rate.severity) == (
        0.1, "3m", "critical")
    assert (alerts.queue_saturated.threshold, alerts.queue_saturated.for_) == (0.8, "10m")
    with pytest.raises(SettingsError, match="observability.alerts.queue_saturated.for"):
        load_settings(environ={**env, "AISTACK_OBSERVABILITY__ALERTS__QUEUE_SATURATED__FOR": "soon"})
