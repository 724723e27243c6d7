"""The apps import one way: recognition <- students <- attendance; config is the project.

Read from the source (every import statement, also inside functions and under TYPE_CHECKING),
so a forbidden import fails here even if no test happens to run the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("recognition", "students", "attendance")
# What each package may import of the project's own packages.
ALLOWED = {
    "recognition": set(),
    "students": {"recognition", "config"},
    # bench_recognition, the command that runs the benchmarks, is in attendance.
    "attendance": {"recognition", "students", "config", "benchmarks"},
    "benchmarks": {"recognition", "students"},
}
# Only recognition runs the face models.
MODEL_LIBRARIES = {"torch", "torchvision", "facenet_pytorch", "onnx", "onnxruntime"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def sources(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts)


def project_imports(package: str) -> dict[str, set[str]]:
    """Each source file of the package -> the other project packages it imports."""
    own = {*APPS, "config", "benchmarks"}
    found = {}
    for path in sources(package):
        roots = {module.split(".")[0] for module in imported_modules(path)}
        found[str(path.relative_to(ROOT))] = (roots & own) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_package_imports_only_what_it_may(package: str) -> None:
    forbidden = {path: sorted(imports - ALLOWED[package]) for path, imports in project_imports(package).items()}
    assert {path: names for path, names in forbidden.items() if names} == {}


@pytest.mark.parametrize("package", ["students", "attendance", "config"])
def test_only_recognition_imports_the_model_libraries(package: str) -> None:
    found = {
        str(path.relative_to(ROOT)): sorted({m.split(".")[0] for m in imported_modules(path)} & MODEL_LIBRARIES)
        for path in sources(package)
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The reader finds imports in functions and under TYPE_CHECKING, where they are easy to miss."""
    source = tmp_path / "module.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from attendance.models import Course\n"
        "def f():\n    import students.models\n"
    )
    assert {"attendance.models", "students.models"} <= imported_modules(source)
