"""Compiling and rendering prompt versions: sandboxed Jinja, strict variables, JSON Schema."""

from __future__ import annotations

import pytest

from lockgate.errors import BadRequestError
from lockgate.prompts.spec import parse_spec
from lockgate.prompts.template import PromptVersion, compile_version


def compiled(messages, variables=None, **content):
    """A compiled version 1 of prompt 'p' with these messages."""
    body = {"messages": messages, **content}
    if variables is not None:
        body["variables"] = variables
    return compile_version(PromptVersion("p", 1, body))


def test_renders_variables_into_new_message_dicts():
    """Templated contents are filled; fixed messages come back as copies."""
    prompt = compiled(
        [
            {"role": "system", "content": "You help {{ company }}."},
            {"role": "user", "content": "fixed"},
        ]
    )
    out = prompt.render({"company": "ACME"})
    assert out == [
        {"role": "system", "content": "You help ACME."},
        {"role": "user", "content": "fixed"},
    ]
    out[1]["content"] = "changed"
    assert prompt.render({"company": "ACME"})[1]["content"] == "fixed"


def test_missing_and_extra_variables_are_named():
    """A 400 names both the missing and the unexpected variables."""
    prompt = compiled([{"role": "user", "content": "{{ a }} {{ b }}"}])
    with pytest.raises(BadRequestError) as info:
        prompt.render({"a": 1, "zzz": 2})
    assert "missing variables: b" in info.value.message
    assert "unexpected variables: zzz" in info.value.message
    assert info.value.status == 400 and info.value.param == "prompt.variables"


def test_schema_declares_and_validates_variables():
    """Schema properties may be given though unused; required ones and types are enforced."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "note": {"type": "string"}},
        "required": ["n"],
    }
    prompt = compiled([{"role": "user", "content": "n={{ n }}"}], schema)
    assert prompt.render({"n": 3, "note": "ok"})[0]["content"] == "n=3"
    with pytest.raises(BadRequestError, match=r"variables\.n: 'x' is not of type 'integer'"):
        prompt.render({"n": "x"})


def test_sandbox_refuses_internals():
    """Template code cannot reach Python internals."""
    prompt = compiled([{"role": "user", "content": "{{ x.__class__.__mro__ }}"}])
    with pytest.raises(BadRequestError, match="rendering failed"):
        prompt.render({"x": "s"})


def test_template_syntax_error_names_the_message():
    """A broken template is refused when compiled, naming the message index."""
    with pytest.raises(BadRequestError, match=r"messages\[1\]"):
        compiled([{"role": "system", "content": "ok"}, {"role": "user", "content": "{{ a"}])


def test_spec_validation_and_digest():
    """Specs reject unknown fields and bad schemas; the digest ignores labels and message."""
    base = {"name": "support", "messages": [{"role": "user", "content": "hi"}]}
    a = parse_spec({**base, "labels": ["production"], "message": "one"})
    b = parse_spec({**base, "message": "two"})
    assert a.digest() == b.digest()
    with pytest.raises(BadRequestError, match="colour: Extra inputs"):
        parse_spec({**base, "colour": "red"})
    with pytest.raises(BadRequestError, match="JSON Schema"):
        parse_spec({**base, "variables": {"type": "nonsense"}})
    with pytest.raises(BadRequestError, match="params"):
        parse_spec({**base, "params": {"messages": []}})
