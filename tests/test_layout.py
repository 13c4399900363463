"""The layout: imports flow one way; no file calls private methods of another.

Floors, lowest first: ``utils`` -> data in (``datasets``, ``activations``) ->
``decomposition`` -> ``metrics`` -> ``studies`` and ``testing`` -> the command
line. A module may import its own floor or lower ones, never higher, directly
or inside a function.
"""

import ast
from pathlib import Path

import pytest

import skfeatsparse

PACKAGE = Path(skfeatsparse.__file__).parent
FLOORS = {
    "utils": 0,
    "datasets": 1,
    "activations": 1,
    "decomposition": 2,
    "metrics": 3,
    "studies": 4,
    "testing": 4,
    "_cli": 5,
    "__main__": 5,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _room(parts):
    """The top-level room of a module path inside the package (None: the package)."""
    return None if parts[0] == "__init__" else parts[0]


def _imported_rooms(path, parts):
    tree = ast.parse(path.read_text())
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = list(package)[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                names = (
                    [target + [a.name] for a in node.names] if not target else [target]
                )
            elif node.module and node.module.split(".")[0] == "skfeatsparse":
                names = [node.module.split(".")[1:] or [a.name for a in node.names]]
            else:
                continue
            for target in names:
                if target:
                    yield node.lineno, target[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bits = alias.name.split(".")
                if bits[0] == "skfeatsparse" and len(bits) > 1:
                    yield node.lineno, bits[1]


def test_every_room_has_a_floor():
    rooms = {_room(parts) for _, parts in _modules()} - {None}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


@pytest.mark.parametrize(
    "path, parts",
    list(_modules()),
    ids=lambda v: "/".join(v) if isinstance(v, tuple) else "",
)
def test_imports_flow_down(path, parts):
    room = _room(parts)
    if room is None:
        return  # the package's __init__ loads sub-packages lazily, by name
    for line, target in _imported_rooms(path, parts):
        if target not in FLOORS or target == room:
            continue
        assert FLOORS[target] <= FLOORS[room], (
            f"{path.relative_to(PACKAGE)}:{line} imports {target} "
            f"(floor {FLOORS[target]}) from {room} (floor {FLOORS[room]})"
        )
        assert {room, target} != {"datasets", "activations"}, "data rooms are apart"


def _private_methods_by_module():
    defined = {}
    for path, _ in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = item.name
                        if name.startswith("_") and not name.startswith("__"):
                            defined.setdefault(name, set()).add(path)
    return defined


def test_no_file_calls_private_methods_defined_in_another():
    defined = _private_methods_by_module()
    offences = []
    for path, _ in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            ):
                continue
            name, owner = node.func.attr, node.func.value
            if name not in defined or path in defined[name]:
                continue
            is_self = isinstance(owner, ast.Name) and owner.id in {"self", "cls"}
            is_super = (
                isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super"
            )
            if not (is_self or is_super):
                offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{name}()")
    assert not offences, offences
