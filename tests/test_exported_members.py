"""The public surface: `agentkit.__all__` is sorted, complete and presented as `agentkit.X`."""

from __future__ import annotations

import agentkit


def test_all_is_sorted_and_every_name_exists() -> None:
    assert agentkit.__all__ == sorted(agentkit.__all__)
    missing = [name for name in agentkit.__all__ if not hasattr(agentkit, name)]
    assert missing == []


def test_public_classes_and_functions_present_themselves_as_agentkit() -> None:
    wrong = [
        name
        for name in agentkit.__all__
        if hasattr(getattr(agentkit, name), "__module__")
        and isinstance(getattr(agentkit, name), type | type(agentkit.tool))
        and getattr(agentkit, name).__module__ != "agentkit"
    ]
    assert wrong == []


def test_no_private_module_name_leaks_into_the_namespace_as_public() -> None:
    public = {n for n in dir(agentkit) if not n.startswith("_")}
    assert public - set(agentkit.__all__) - {"testing"} == set()
