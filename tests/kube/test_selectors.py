"""The shared label-selector parser against apimachinery's own cases and messages.

Cases from k8s.io/apimachinery/pkg/labels/selector_test.go (TestSelectorParse, TestSetMatches, the lexer tests);
messages as `kubectl get -l` prints them from the apiserver.
"""

from __future__ import annotations

import pytest

from console.kube.selectors import SelectorError, parse_label_selector, selector_from_match

# TestSelectorParse: testGoodStrings, and their String() is the input without spaces
GOOD = ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"]
BAD = ["x=a||y=b", "x==a==b", "!x=a", "x<a"]


@pytest.mark.parametrize("text", GOOD)
def test_apimachinery_good_strings_parse_and_print_back(text: str) -> None:
    assert str(parse_label_selector(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", BAD)
def test_apimachinery_bad_strings_are_refused(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


@pytest.mark.parametrize("text, message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b,,c", "found ',', expected: identifier after ','"),
    ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("Example.com/x=y", "prefix part a lowercase RFC 1123 subdomain"),
    ("a=-x", "a valid label must be an empty string or consist of alphanumeric characters"),
    ("x" * 64 + "=1", "name part must be no more than 63 characters"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
])
def test_refusals_say_what_the_apiserver_says(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector(text)
    assert message in str(e.value)


def test_set_based_requirements_and_matching() -> None:
    sel = parse_label_selector("env in (prod, staging),tier notin (dev),gpu,!spot,example.com/team==a")
    assert str(sel) == "env in (prod,staging),example.com/team==a,gpu,!spot,tier notin (dev)"  # sorted by key
    base = {"env": "prod", "gpu": "1", "example.com/team": "a"}
    assert sel.matches(base)
    assert sel.matches(base | {"tier": "prod"})
    assert not sel.matches(base | {"tier": "dev"})
    assert not sel.matches(base | {"spot": ""})
    assert not sel.matches(base | {"env": "dev"})
    assert not sel.matches({k: v for k, v in base.items() if k != "gpu"})
    # `in`/`notin` are words where a value stands, and `()` / empty members are the empty value
    assert parse_label_selector("x in (in,notin)").matches({"x": "notin"})
    assert parse_label_selector("x in (foo,,baz)").matches({"x": ""})
    assert parse_label_selector("x notin ()").matches({"x": "a"}) and not parse_label_selector(
        "x notin ()").matches({"x": ""})
    # != and notin match objects without the key; > and < compare integers and need the key
    assert parse_label_selector("a!=b").matches({}) and parse_label_selector("a notin (b)").matches({})
    assert parse_label_selector("n>1").matches({"n": "2"}) and not parse_label_selector("n>1").matches({})
    assert not parse_label_selector("n<5").matches({"n": "x"})
    assert not parse_label_selector("")  # empty: matches everything
    assert parse_label_selector("").matches({"a": "b"})


def test_match_labels_and_expressions() -> None:
    sel = selector_from_match({"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]},
                                                    {"key": "gpu", "operator": "Exists"}]})
    assert sel.matches({"app": "web", "gpu": "1"}) and not sel.matches({"app": "web", "gpu": "1", "tier": "dev"})
    with pytest.raises(SelectorError, match="unknown matchExpressions operator"):
        selector_from_match({"matchExpressions": [{"key": "a", "operator": "Gt"}]})
