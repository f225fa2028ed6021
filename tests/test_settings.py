"""Settings: camelCase wire format, per-field fallback, one message per bad value."""

from infill_lsp.fim.postprocess import RULE_NAMES
from infill_lsp.settings import Settings, resolve_settings, settings_schema


def test_defaults_when_nothing_is_sent():
    settings, errors = resolve_settings(None)
    assert settings == Settings() and errors == []


def test_camel_case_values_are_applied_bare_or_under_infill():
    wire = {"completion": {"maxTokens": 32, "multiline": "never", "fimOrder": "spm"}, "context": {"maxTokens": 0},
            "streaming": True}
    for data in (wire, {"infill": wire}):
        settings, errors = resolve_settings(data)
        assert errors == []
        assert settings.completion.max_tokens == 32
        assert settings.completion.multiline == "never"
        assert settings.completion.fim_order == "spm"
        assert settings.context.max_tokens == 0
        assert settings.streaming is True


def test_bad_values_fall_back_per_field_with_one_message_each():
    data = {"completion": {"maxTokens": "lots", "temperature": 9, "fim": "maybe", "multiline": "always"},
            "streaming": 1}
    settings, errors = resolve_settings(data)
    assert settings.completion.max_tokens == 128
    assert settings.completion.temperature == 0.0
    assert settings.completion.fim == "auto"
    assert settings.completion.multiline == "always"
    assert settings.streaming is False
    assert len(errors) == 4
    assert any(e.startswith("completion.maxTokens: expected an integer") for e in errors)
    assert any("completion.temperature: expected a value from 0.0 to 2.0" in e for e in errors)


def test_section_of_the_wrong_type_keeps_defaults():
    settings, errors = resolve_settings({"completion": "fast"})
    assert settings.completion == Settings().completion
    assert errors == ["completion: expected an object, got str; using defaults"]


def test_merging_keeps_earlier_values_and_ignores_unknown_keys():
    first, _ = resolve_settings({"completion": {"maxTokens": 10}})
    second, errors = resolve_settings({"completion": {"temperature": 0.5}, "unknown": 1}, first)
    assert (second.completion.max_tokens, second.completion.temperature) == (10, 0.5)
    assert errors == []


def test_schema_documents_every_setting():
    schema = settings_schema()
    assert schema["completion.maxTokens"]["type"] == "integer"
    assert schema["completion.multiline"]["enum"] == ["auto", "always", "never"]
    assert schema["context.maxTokens"]["default"] == 1024
    assert schema["streaming"]["type"] == "boolean"
    assert all(entry["description"] for entry in schema.values())


def test_list_settings_accept_string_lists_only():
    settings, errors = resolve_settings({"context": {"exclude": ["*.sql", "docs/"], "include": "src/"}})
    assert settings.context.exclude == ("*.sql", "docs/")
    assert settings.context.include == ()
    assert errors == ["context.include: expected a list of strings, got 'src/'; using ()"]
    assert settings_schema()["context.exclude"] == {
        "type": "array", "default": [], "items": {"type": "string"},
        "description": settings_schema()["context.exclude"]["description"],
    }


def test_rules_can_be_switched_off_by_name_only():
    settings, errors = resolve_settings({"completion": {"rulesOff": ["dedent", "repetition"]}})
    assert settings.completion.rules_off == ("dedent", "repetition")
    settings, errors = resolve_settings({"completion": {"rulesOff": ["dedent", "nosuchrule"]}})
    assert settings.completion.rules_off == ()
    assert len(errors) == 1 and "'nosuchrule'" not in errors[0].split("got")[0] and "'dedent'" in errors[0]
    assert settings_schema()["completion.rulesOff"]["items"]["enum"] == list(RULE_NAMES)
