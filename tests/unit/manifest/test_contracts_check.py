"""``gati contracts check``: handlers and the modules they call must agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from manifest_apps import broken

from gati.cli.main import cli
from gati.manifest import (
    ModuleCall,
    ModuleMethod,
    Param,
    TypeRef,
    build_manifest,
    check_contracts,
)
from gati.manifest._contracts import bind_problems

pytestmark = pytest.mark.timeout(30)
HERE = Path(__file__).parent
ANY = TypeRef("any", "0")


def test_a_broken_app_reports_each_mismatch() -> None:
    report = check_contracts(build_manifest(broken()))
    assert not report.ok
    problems = sorted((i.module, i.method, i.problem) for i in report.issues)
    assert problems == [
        ("cache", "get_item", "unknown_module"),
        ("opaque", "anything", "unverified"),
        ("store", "fetch", "arity"),
        ("store", "fetch", "arity"),
        ("store", "forget", "arity"),
        ("store", "put", "arity"),
        ("store", "remove", "unknown_method"),
    ]
    text = report.render()
    assert text.startswith("MISMATCH: broken: 7 module uses checked, 6 errors, 1 unverified")
    assert "missing required argument 'account_id' of fetch(account_id)" in text
    assert "2 positional arguments given, fetch(account_id) takes at most 1" in text
    assert "unexpected keyword argument 'overwrite'" in text
    assert "'account_id' is positional-only" in text
    assert "has no public method 'remove' (methods: count, fetch, forget, put)" in text
    assert "no module 'cache' is registered" in text


def test_the_examples_agree_with_their_modules() -> None:
    from examples.typed_users.app import app as typed
    from examples.users.app import app as users

    for app in (typed, users):
        report = check_contracts(build_manifest(app))
        assert report.ok and report.checked > 0, report.render()


def _method(*params: Param) -> ModuleMethod:
    return ModuleMethod("m", True, params, ANY, None)


def _param(name: str, kind: str = "positional_or_keyword", required: bool = True) -> Param:
    return Param(name, kind, required, "int", ANY)


def _call(positional: int = 0, keywords: tuple[str, ...] = (), star_args: bool = False,
          star_kwargs: bool = False) -> ModuleCall:
    return ModuleCall("mod", "m", "handler", 1, True, positional, keywords, star_args,
                      star_kwargs)


def test_binding_rules() -> None:
    m = _method(_param("a"), _param("b", required=False), _param("c", "keyword_only"))
    assert bind_problems(m, _call(1, ("c",))) == []
    assert bind_problems(m, _call(2, ("c",))) == []
    assert bind_problems(m, _call(0, ("a", "c"))) == []
    assert bind_problems(m, _call(1)) == ["missing required argument 'c' of m(a, b, c)"]
    assert bind_problems(m, _call(1, ("a", "c"))) == ["'a' is given positionally and by keyword"]
    assert bind_problems(m, _call(3, ("c",))) == [
        "3 positional arguments given, m(a, b, c) takes at most 2"]
    # *args / **kwargs at the call site may supply what is missing.
    assert bind_problems(m, _call(0, (), star_args=True, star_kwargs=True)) == []
    assert bind_problems(m, _call(0, ("c",), star_args=True)) == []
    # *args / **kwargs in the signature accept the rest.
    v = _method(_param("a"), _param("rest", "var_positional", False),
                _param("kw", "var_keyword", False))
    assert bind_problems(v, _call(5, ("x", "y"))) == []


def test_cli_exits_1_on_a_mismatch_and_0_when_they_agree() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["contracts", "check", f"{HERE}/manifest_apps.py:broken_app"])
    assert bad.exit_code == 1, bad.output
    assert "MISMATCH" in bad.output and "unknown_method" in bad.output
    as_json = runner.invoke(cli, ["contracts", "check", "--json",
                                  f"{HERE}/manifest_apps.py:broken_app"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["ok"] is False
    good = runner.invoke(cli, ["contracts", "check", "examples.typed_users.app:app"])
    assert good.exit_code == 0, good.output
    assert good.output.startswith("OK: typed_users")
    missing = runner.invoke(cli, ["contracts", "check", "no.such.module:app"])
    assert missing.exit_code == 2 and "cannot import" in missing.output
