import pytest

from mmgraph.registry import Registry


def test_register_create_list_case_insensitive():
    reg = Registry("thing")

    @reg.register("Alpha")
    def make_alpha(n=1):
        return ("alpha", n)

    reg.register("beta", lambda: "b")
    assert reg.create("ALPHA", n=3) == ("alpha", 3)
    assert reg.list() == ["alpha", "beta"]
    assert reg.list("a*") == ["alpha"]
    assert "Beta" in reg and "gamma" not in reg
    assert len(reg) == 2


def test_duplicates_refused_and_unknown_names_listed():
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("A", 2)
    reg.register("a", 2, overwrite=True)
    assert reg.get("a") == 2
    with pytest.raises(KeyError, match="unknown thing 'zz'; valid names: a"):
        reg.get("zz")
    with pytest.raises(ValueError, match="non-empty"):
        reg.register("  ", 3)


def test_unregister_returns_the_object_and_frees_the_name():
    reg = Registry("thing")
    reg.register("a", 1)
    assert reg.unregister("A") == 1
    assert "a" not in reg and len(reg) == 0
    reg.register("a", 2)  # the name is free again
    with pytest.raises(KeyError, match="unknown thing 'b'"):
        reg.unregister("b")
