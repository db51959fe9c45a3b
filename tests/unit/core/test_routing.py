"""Router: which handler a method + path reaches, and which patterns are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gati.core.routing import Router
from gati.errors import AppError, MethodNotAllowed, RoutingError


@pytest.mark.parametrize("literal_first", [True, False])
def test_literal_segment_beats_parameter_whatever_the_registration_order(
    literal_first: bool,
) -> None:
    router: Router[str] = Router()
    routes = [("/users/me", "me"), ("/users/{id}", "by-id")]
    for pattern, target in routes if literal_first else reversed(routes):
        router.add("GET", pattern, target)

    assert router.match("GET", "/users/me").route.target == "me"
    other = router.match("GET", "/users/ada")
    assert other.route.target == "by-id"
    assert other.params == {"id": "ada"}


def test_int_parameter_is_converted_to_int() -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/{n:int}", "item")

    assert router.match("GET", "/items/42").params == {"n": 42}
    assert router.match("GET", "/items/-7").params == {"n": -7}


@pytest.mark.parametrize("segment", ["abc", "4.2", "12a", "-", "0x10", "1e3", " 1"])
def test_int_parameter_rejects_non_integers_with_404(segment: str) -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/{n:int}", "item")

    with pytest.raises(RoutingError) as info:
        router.match("GET", f"/items/{segment}")
    assert info.value.status == 404
    assert not isinstance(info.value, MethodNotAllowed)


def test_int_parameter_with_unicode_superscript_digit_is_a_404_not_a_crash() -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/{n:int}", "item")

    with pytest.raises(RoutingError):
        router.match("GET", "/items/\u00b2")


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=-(10**30), max_value=10**30))
def test_any_ascii_integer_reaches_an_int_route(n: int) -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/{n:int}", "item")

    assert router.match("GET", f"/items/{n}").params == {"n": n}


def test_wrong_method_is_405_listing_every_allowed_method() -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/{id}", "get")
    router.add("DELETE", "/items/{id}", "delete")
    router.add("PUT", "/items/special", "put-special")

    with pytest.raises(MethodNotAllowed) as info:
        router.match("POST", "/items/7")
    assert info.value.status == 405
    assert info.value.allowed == ("DELETE", "GET")
    assert "POST" in info.value.message


def test_method_match_is_case_insensitive() -> None:
    router: Router[str] = Router()
    router.add("get", "/x", "x")
    assert router.match("GET", "/x").route.target == "x"
    assert router.match("get", "/x").route.target == "x"


def test_unknown_path_is_404_naming_the_path() -> None:
    router: Router[str] = Router()
    router.add("GET", "/items", "items")

    with pytest.raises(RoutingError) as info:
        router.match("GET", "/nothing/here")
    assert info.value.status == 404
    assert "/nothing/here" in info.value.message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/users/{id}", "/users/{id}"),
        ("/users/{id}", "/users/{name:int}"),
        ("/users/me", "/users/me/"),
    ],
)
def test_conflicting_routes_are_refused_naming_both(first: str, second: str) -> None:
    router: Router[str] = Router()
    router.add("GET", first, "a")

    with pytest.raises(AppError) as info:
        router.add("GET", second, "b")
    assert second in info.value.message
    assert first in info.value.message
    assert "conflicts" in info.value.message


def test_same_pattern_on_another_method_is_not_a_conflict() -> None:
    router: Router[str] = Router()
    router.add("GET", "/users/{id}", "get")
    router.add("DELETE", "/users/{id}", "delete")
    assert router.match("DELETE", "/users/1").route.target == "delete"


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("users", "must start with '/'"),
        ("/users/{id", "malformed segment"),
        ("/users/id}", "malformed segment"),
        ("/users/x{id}", "malformed segment"),
        ("/users/{}", "is not a parameter name"),
        ("/users/{1st}", "is not a parameter name"),
        ("/users/{id:float}", "unknown parameter type 'float'"),
        ("/a/{x}/b/{x}", "parameter 'x' appears twice"),
    ],
)
def test_malformed_pattern_is_refused_with_a_clear_message(pattern: str, complaint: str) -> None:
    router: Router[str] = Router()

    with pytest.raises(AppError) as info:
        router.add("GET", pattern, "x")
    assert repr(pattern) in info.value.message
    assert complaint in info.value.message
    assert router.routes == ()


_segment = st.text(
    alphabet=st.characters(blacklist_characters="/{}", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(paths=st.lists(st.lists(_segment, min_size=1, max_size=5), min_size=1, max_size=8,
                      unique_by=tuple))
def test_every_registered_literal_path_matches_itself(paths: list[list[str]]) -> None:
    router: Router[int] = Router()
    for i, segments in enumerate(paths):
        router.add("GET", "/" + "/".join(segments), i)

    for i, segments in enumerate(paths):
        match = router.match("GET", "/" + "/".join(segments))
        assert match.route.target == i
        assert match.params == {}
