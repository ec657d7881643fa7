"""The strategy that keeps the modules Mitogen prepares for the hosts between runs
(playbooks/strategy_plugins/provisioner_mitogen_linear.py): what a run prepared is read back by
the next, and anything that changes the module's file or its package prepares it again."""

from __future__ import annotations

import importlib.util
import os
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import mitogen.master
import pytest

from provisioner import ansible as ansible_run
from tests.conftest import ROOT

PLUGIN = ROOT / "playbooks" / "strategy_plugins" / "provisioner_mitogen_linear.py"


def _plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provisioner_mitogen_linear_under_test", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Policy:
    def __init__(self) -> None:
        self.denied: set[str] = set()

    def denied_raise(self, fullname: str) -> None:
        if fullname in self.denied:
            raise ImportError(fullname)


class _Finder:
    def __init__(self, modules: dict[str, tuple[Path, bool]]) -> None:
        self.modules = modules

    def get_module_source(self, fullname: str) -> tuple[str | None, bytes | None, bool]:
        if fullname not in self.modules:
            return None, None, False
        path, is_pkg = self.modules[fullname]
        return str(path), path.read_bytes(), is_pkg


class _Responder:
    """The part of Mitogen's ModuleResponder the cache wraps: one per run (a fresh in-memory cache)."""

    def __init__(self, finder: _Finder, built: list[str]) -> None:
        self._cache: dict[str, Any] = {}
        self._finder = finder
        self.policy = _Policy()
        self.built = built

    def _build_tuple(self, fullname: str) -> tuple[Any, ...]:
        self.built.append(fullname)
        path, source, is_pkg = self._finder.get_module_source(fullname)
        if source is None:
            return (fullname, None, None, None, ())  # Mitogen's negative answer
        return (fullname, [] if is_pkg else None, path, zlib.compress(source), [])


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Any, Path]:
    plugin = _plugin()
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(plugin, "CACHE_DIR", str(folder))
    return plugin, plugin.cached(_Responder._build_tuple), folder


def _one_module(tmp_path: Path, text: str) -> tuple[Path, _Finder]:
    module = tmp_path / "mod.py"
    module.write_text(text)
    return module, _Finder({"mod": (module, False)})


def _run(build: Any, finder: _Finder, *names: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    built: list[str] = []
    responder = _Responder(finder, built)
    return built, [build(responder, name) for name in names]


def test_a_later_run_reads_back_what_an_earlier_one_prepared(cache: Any, tmp_path: Path) -> None:
    _, build, folder = cache
    _, finder = _one_module(tmp_path, "import os\n")
    first_built, first = _run(build, finder, "mod", "mod")
    assert first_built == ["mod"]  # once per run, as Mitogen's own in-memory cache
    later_built, later = _run(build, finder, "mod")
    assert later_built == [] and later[0] == first[0]
    assert len(list(folder.iterdir())) == 1


def test_a_changed_file_is_prepared_again(cache: Any, tmp_path: Path) -> None:
    _, build, _ = cache
    module, finder = _one_module(tmp_path, "import os\n")
    _run(build, finder, "mod")
    module.write_text("import sys, os\n")
    os.utime(module, ns=(1, 1))
    built, (again,) = _run(build, finder, "mod")
    assert built == ["mod"]
    assert zlib.decompress(again[3]) == b"import sys, os\n"


def test_a_submodule_added_to_a_package_prepares_the_package_again(cache: Any, tmp_path: Path) -> None:
    _, build, _ = cache
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    finder = _Finder({"pkg": (package / "__init__.py", True)})
    _run(build, finder, "pkg")
    os.utime(package, ns=(1, 1))  # what adding or removing a file in it does to the folder
    built, _ = _run(build, finder, "pkg")
    assert built == ["pkg"]


def test_a_damaged_entry_is_prepared_again_and_a_refused_module_is_not_kept(cache: Any, tmp_path: Path) -> None:
    _, build, folder = cache
    _, finder = _one_module(tmp_path, "x = 1\n")
    _run(build, finder, "mod")
    (entry,) = folder.iterdir()
    entry.write_bytes(b"not a pickle")
    built, (again,) = _run(build, finder, "mod")
    assert built == ["mod"] and zlib.decompress(again[3]) == b"x = 1\n"
    built, (missing,) = _run(build, finder, "absent")
    assert built == ["absent"] and missing[3] is None
    assert len(list(folder.iterdir())) == 1


def test_a_denied_module_is_refused_even_when_cached(cache: Any, tmp_path: Path) -> None:
    _, build, _ = cache
    _, finder = _one_module(tmp_path, "x = 1\n")
    _run(build, finder, "mod")
    responder = _Responder(finder, [])
    responder.policy.denied.add("mod")
    with pytest.raises(ImportError):
        build(responder, "mod")


def test_without_a_cache_folder_mitogen_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISIONER_MITOGEN_CACHE_DIR", raising=False)
    original = mitogen.master.ModuleResponder._build_tuple
    _plugin()
    assert mitogen.master.ModuleResponder._build_tuple is original


def test_runs_use_the_caching_strategy_unless_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROVISIONER_STRATEGY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = ansible_run._mitogen_strategy()
    assert found["ANSIBLE_STRATEGY"] == "provisioner_mitogen_linear"
    assert found["PROVISIONER_MITOGEN_CACHE_DIR"] == str(tmp_path / "provisioner" / "mitogen-modules")
    assert found["ANSIBLE_STRATEGY_PLUGINS"].split(os.pathsep)[-1] == str(PLUGIN.parent)
    monkeypatch.setenv("PROVISIONER_MITOGEN_CACHE", "0")
    off = ansible_run._mitogen_strategy()
    assert off["ANSIBLE_STRATEGY"] == "provisioner_mitogen_linear" and "PROVISIONER_MITOGEN_CACHE_DIR" not in off
