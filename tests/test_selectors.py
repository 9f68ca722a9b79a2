"""The one label-selector parser (skctl.kube.selectors) against Kubernetes' own cases.

The cases are those of k8s.io/apimachinery/pkg/labels/selector_test.go (TestSelectorParse,
TestSetSelectorParser, TestSelectorMatches, TestRequirementConstructor,
TestRequirementSelectorMatching), restated as data. The sandbox's `?labelSelector=` and
`export --excluded-labels` go through the same parser, checked at the end.
"""

from __future__ import annotations

import pytest

from skctl.kube.selectors import SelectorError, parse_selector, selector_from_json, selector_string
from skctl.sandbox.selectors import parse_label_selector

# (selector, {key: (op, values)}) — what Kubernetes parses each string into.
GOOD = [
    ("", {}),
    ("x=a,y=b,z=c", {"x": ("=", {"a"}), "y": ("=", {"b"}), "z": ("=", {"c"})}),
    ("x!=a,y=b", {"x": ("!=", {"a"}), "y": ("=", {"b"})}),
    ("x=", {"x": ("=", {""})}),
    ("x= ", {"x": ("=", {""})}),
    ("x=,z= ", {"x": ("=", {""}), "z": ("=", {""})}),
    ("x= ,z= ", {"x": ("=", {""}), "z": ("=", {""})}),
    ("!x", {"x": ("!", set())}),
    ("x>1", {"x": (">", {"1"})}),
    ("x>1,z<5", {"x": (">", {"1"}), "z": ("<", {"5"})}),
    ("\rx", {"x": ("exists", set())}),
    ("this-is-a-dns.domain.com/key-with-dash", {"this-is-a-dns.domain.com/key-with-dash": ("exists", set())}),
    ("this-is-another-dns.domain.com/key-with-dash in (so,what)",
     {"this-is-another-dns.domain.com/key-with-dash": ("in", {"so", "what"})}),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
     {"0.1.2.domain/99": ("notin", {"10.10.100.1", "tick.tack.clock"})}),
    ("foo  in\t (abc)", {"foo": ("in", {"abc"})}),
    ("x notin\n (abc)", {"x": ("notin", {"abc"})}),
    ("x  notin\t\t\t(abc,def)", {"x": ("notin", {"abc", "def"})}),
    ("x in (abc,)", {"x": ("in", {"abc", ""})}),
    ("x in ()", {"x": ("in", {""})}),
    ("x notin (abc,,def),bar,z in (),w",
     {"x": ("notin", {"abc", "", "def"}), "bar": ("exists", set()), "z": ("in", {""}), "w": ("exists", set())}),
    ("x,y in (a)", {"x": ("exists", set()), "y": ("in", {"a"})}),
    ("x==a", {"x": ("=", {"a"})}),
    ("x notin ( )", {"x": ("notin", {""})}),
    ("x notin (, a)", {"x": ("notin", {"", "a"})}),
    ("a ", {"a": ("exists", set())}),
    ("a in (x,y,notin, z,in)", {"a": ("in", {"in", "notin", "x", "y", "z"})}),
    ("notin=in", {"notin": ("=", {"in"})}),
    ("1foo in (bar)", {"1foo": ("in", {"bar"})}),
    ("1234 in (bar)", {"1234": ("in", {"bar"})}),
]

BAD = [
    "x=a||y=b", "x==a==b", "!x=a", "x<a", "x,,y", ",x,y", "x nott in (y)", "a in (xyz),",
    "a in (xyz)b notin ()", "a in (xyz abc)", "a notin(", "a (", "(",
    "foo>bar", "barz<blah",  # > and < take integers
    "a" * 254,  # a key is at most 253 + '/' + 63
    # the cases the two copies skctl had disagreed on, with Kubernetes' answer
    "-bad=x", "a,,b", "x/y/z=1", "a in (x y)",
    # names and values with their length limits
    "a=" + "v" * 64, "p" * 254 + "/a", "/a", "a/", "x=-v", "x=v-",
]


@pytest.mark.parametrize("text,expected", GOOD)
def test_kubernetes_parses(text: str, expected: dict) -> None:
    sel = parse_selector(text)
    got = {r.key: (r.op, set(r.values)) for r in sel.requirements}
    assert got == expected
    assert len(sel.requirements) == len(expected)


@pytest.mark.parametrize("text", BAD)
def test_kubernetes_rejects(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


MATCHES = [
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False),
    ("x<1", {"x": "2"}, False),
    ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
    ("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
    ("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
    ("x notin (),y", {"y": ""}, True),
    ("!x,y", {"y": ""}, True),
    ("x notin (),!y", {"y": ""}, False),
    ("x in ()", {"y": "baz"}, False),
    ("z>1", {"z": "2"}, True),
    ("z>1", {"z": "v2"}, False),
    ("z>1", {}, False),
    ("z<1", {}, False),
    ("a in (x,)", {"a": ""}, True),
]


@pytest.mark.parametrize("text,labels,expected", MATCHES)
def test_kubernetes_matches(text: str, labels: dict, expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text,labels,expected", MATCHES)
def test_sandbox_uses_the_same_matcher(text: str, labels: dict, expected: bool) -> None:
    match = parse_label_selector(text)
    assert (True if match is None else match({"metadata": {"labels": labels}})) is expected


@pytest.mark.parametrize("text", BAD)
def test_sandbox_rejects_the_same_selectors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


def test_label_selector_objects_follow_the_same_rules() -> None:
    sel = selector_from_json({"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]})
    assert sel.matches({"app": "web"}) and not sel.matches({"app": "web", "tier": "db"})
    for bad in (
        {"matchLabels": {"-bad": "x"}},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
    ):
        with pytest.raises(SelectorError):
            selector_from_json(bad)


def test_selector_string_writes_every_requirement_sorted_by_key() -> None:
    """A LabelSelector object as apimachinery writes it: matchExpressions included, by key."""
    value = {"matchLabels": {"b": "1", "a": "2"},
             "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["y", "x"]},
                                  {"key": "a0", "operator": "Exists"},
                                  {"key": "d", "operator": "DoesNotExist"}]}
    text = selector_string(value)
    assert text == "a=2,a0,b=1,c notin (x,y),!d"
    assert parse_selector(text).matches({"a": "2", "a0": "", "b": "1", "c": "z"})
    assert not parse_selector(text).matches({"a": "2", "a0": "", "b": "1", "c": "x"})
    assert selector_string({}) == ""
    with pytest.raises(SelectorError):
        selector_string({"matchExpressions": [{"key": "a", "operator": "Near"}]})
