"""The compiled templates the strategy keeps between runs and workers
(playbooks/strategy_plugins/provisioner_mitogen_linear.py): a template or conditional is compiled
once, read back after, renders as it did, and anything the generated code depends on besides the
text (syntax settings, the filter plugins, a damaged entry) compiles it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from provisioner import ansible as ansible_run
from tests.unit.test_mitogen_module_cache import PLUGIN, _plugin


class _Templates:
    def __init__(self, plugin: ModuleType, folder: Path, compiled: list[str]) -> None:
        self.plugin = plugin
        self.folder = folder
        self.compiled = compiled  # what Jinja itself compiled (a cache miss), in order

    def render(self, text: str, **variables: Any) -> Any:
        return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))

    def condition(self, text: str, **variables: Any) -> bool:
        return bool(Templar(loader=DataLoader(), variables=variables).evaluate_conditional(trust_as_template(text)))

    def entries(self) -> list[Path]:
        return sorted(self.folder.iterdir())


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Templates]:
    monkeypatch.delenv("PROVISIONER_TEMPLATE_CACHE_DIR", raising=False)
    plugin = _plugin()
    folder = tmp_path / "jinja-code"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(plugin, "TEMPLATE_CACHE_DIR", str(folder))
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source if isinstance(source, str) else "<expression>")
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", plugin.cached_compile(counting))
    monkeypatch.setattr(jinja2.Environment, "compile_expression",
                        plugin.remembering_expression(jinja2.Environment.compile_expression))
    yield _Templates(plugin, folder, compiled)


def test_a_template_is_compiled_once_and_read_back_after(templates: _Templates) -> None:
    text = "{{ sites | map(attribute='fqdn') | join(',') }}"
    first = templates.render(text, sites=[{"fqdn": "a.go.id"}, {"fqdn": "b.go.id"}])
    assert first == "a.go.id,b.go.id" and templates.compiled == [text]
    assert len(templates.entries()) == 1
    later = templates.render(text, sites=[{"fqdn": "c.go.id"}])  # a new Templar, as in a new worker
    assert later == "c.go.id" and templates.compiled == [text]  # read back, not compiled again


def test_a_conditional_is_compiled_once_and_decides_as_before(templates: _Templates) -> None:
    condition = "sites | rejectattr('shared') | list | length > 1"
    assert templates.condition(condition, sites=[{"shared": False}, {"shared": False}]) is True
    assert templates.compiled == ["<expression>"]
    assert templates.condition(condition, sites=[{"shared": False}, {"shared": True}]) is False
    assert templates.condition(condition, sites=[]) is False
    assert templates.compiled == ["<expression>"]
    # The same text as a template is another piece of code, kept apart from the expression's.
    assert templates.render("{{ " + condition + " }}", sites=[]) is False
    assert templates.compiled == ["<expression>", "{{ " + condition + " }}"]
    assert len(templates.entries()) == 2


def test_a_template_that_does_not_compile_is_never_kept(templates: _Templates) -> None:
    for _ in range(2):
        with pytest.raises(Exception, match=r"(?i)syntax|unexpected|expected"):
            templates.render("{{ sites | }}", sites=[])
    assert templates.compiled == ["{{ sites | }}", "{{ sites | }}"]
    assert templates.entries() == []


def test_a_damaged_entry_is_compiled_again(templates: _Templates) -> None:
    templates.render("{{ 40 + 2 }}")
    (entry,) = templates.entries()
    entry.write_bytes(b"not marshal data")
    assert templates.render("{{ 40 + 2 }}") == 42
    assert templates.compiled == ["{{ 40 + 2 }}", "{{ 40 + 2 }}"]
    assert templates.render("{{ 40 + 2 }}") == 42 and len(templates.compiled) == 2  # rewritten whole


def test_other_syntax_settings_or_backslash_escaping_are_other_entries(templates: _Templates) -> None:
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext

    env = AnsibleEnvironment()
    key = templates.plugin._code_key
    plain = key(env, "template", "{{ x }}", None, None, False)
    assert plain == key(AnsibleEnvironment(), "template", "{{ x }}", None, None, False)
    assert plain != key(env.overlay(variable_start_string="[["), "template", "{{ x }}", None, None, False)
    assert plain != key(env, "expression", "{{ x }}", None, None, False)
    with _TemplateCompileContext(escape_backslashes=True):
        escaped = key(env, "template", "{{ x }}", None, None, False)
    with _TemplateCompileContext(escape_backslashes=False):
        assert key(env, "template", "{{ x }}", None, None, False) == plain != escaped


class _Plugin:
    def __init__(self, path: Path) -> None:
        self._original_path = str(path)


class _Loader:
    def __init__(self, *paths: Path) -> None:
        self.paths = paths

    def all(self) -> Iterator[_Plugin]:
        return iter([_Plugin(path) for path in self.paths])


def test_a_changed_filter_plugin_file_compiles_everything_again(templates: _Templates, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Jinja decides at compile time how a filter is called (with the context or not), from the
    # function the plugin file defines: code compiled against another version is not used.
    import ansible.plugins.loader

    ours = tmp_path / "provisioner_changes.py"
    ours.write_text("def filters(): return {}\n")
    monkeypatch.setattr(ansible.plugins.loader, "filter_loader", _Loader(ours))
    monkeypatch.setattr(ansible.plugins.loader, "test_loader", _Loader())
    before = templates.plugin._plugins_fingerprint()
    templates.plugin._fingerprint.clear()
    assert templates.plugin._plugins_fingerprint() == before  # the same files: the same code
    ours.write_text("def filters(): return {'x': str}\n")
    os.utime(ours, ns=(1, 1))
    templates.plugin._fingerprint.clear()
    assert templates.plugin._plugins_fingerprint() != before


def test_a_folder_others_can_write_to_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = _plugin()
    folder = tmp_path / "jinja-code"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setattr(plugin, "TEMPLATE_CACHE_DIR", str(folder))
    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)  # restored after
    original = jinja2.Environment.compile
    plugin._install_template_cache()
    assert jinja2.Environment.compile is original
    folder.chmod(0o700)
    plugin._install_template_cache()
    assert jinja2.Environment.compile is not original and jinja2.Environment.compile.provisioner_cached


def test_a_folder_past_its_limit_is_emptied_before_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Entries differ by text only, so the folder cannot grow without bound: past the limit it starts over.
    plugin = _plugin()
    folder = tmp_path / "jinja-code"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(plugin, "TEMPLATE_CACHE_DIR", str(folder))
    monkeypatch.setattr(plugin, "TEMPLATE_CACHE_LIMIT", 3)
    compile_, compile_expression = jinja2.Environment.compile, jinja2.Environment.compile_expression
    monkeypatch.setattr(jinja2.Environment, "compile", compile_)  # restored after
    monkeypatch.setattr(jinja2.Environment, "compile_expression", compile_expression)
    for index in range(3):
        (folder / f"entry{index}").write_bytes(b"x")
    plugin._install_template_cache()  # as at the start of a run
    assert len(list(folder.iterdir())) == 3  # at the limit: kept
    (folder / "entry3").write_bytes(b"x")
    monkeypatch.setattr(jinja2.Environment, "compile", compile_)  # the next run starts from Jinja's own
    monkeypatch.setattr(jinja2.Environment, "compile_expression", compile_expression)
    plugin._install_template_cache()
    assert list(folder.iterdir()) == []


def test_without_the_variable_jinja_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISIONER_TEMPLATE_CACHE_DIR", raising=False)
    original = jinja2.Environment.compile
    _plugin()
    assert jinja2.Environment.compile is original


def test_runs_keep_the_templates_unless_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROVISIONER_STRATEGY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = ansible_run._mitogen_strategy()
    assert found["PROVISIONER_TEMPLATE_CACHE_DIR"] == str(tmp_path / "provisioner" / "jinja-code")
    monkeypatch.setenv("PROVISIONER_TEMPLATE_CACHE", "0")
    off = ansible_run._mitogen_strategy()
    assert off["ANSIBLE_STRATEGY"] == "provisioner_mitogen_linear" and "PROVISIONER_TEMPLATE_CACHE_DIR" not in off


def test_ansible_playbook_compiles_a_run_once_and_the_next_run_reads_it_back(tmp_path: Path) -> None:
    # The whole path: provisioner's environment names the folder, ansible-playbook loads the
    # strategy, each forked worker reads and writes the folder. The second run compiles nothing.
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"sites": [{"fqdn": "a.go.id", "shared": False}, {"fqdn": "b.go.id", "shared": True}]},
        "tasks": [
            {"name": "names", "ansible.builtin.debug": {"msg": "{{ sites | map(attribute='fqdn') | join(',') }}"}},
            {"name": "own", "ansible.builtin.debug": {"msg": "own {{ item.fqdn }}"},
             "loop": "{{ sites | rejectattr('shared') | list }}", "when": "sites | length > 1"},
            {"name": "none", "ansible.builtin.debug": {"msg": "never"}, "when": "sites | length > 5"},
        ],
    }]))
    env = {**os.environ, **ansible_run._mitogen_strategy(), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "ANSIBLE_CONFIG": str(PLUGIN.parents[1] / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    env.update({k: v.replace(str(Path.home() / ".cache"), str(tmp_path / "cache"))
                for k, v in env.items() if k.endswith("_CACHE_DIR")})
    folder = Path(env["PROVISIONER_TEMPLATE_CACHE_DIR"])
    assert folder.is_relative_to(tmp_path)
    runs = []
    for _ in range(2):
        done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                               "local", str(playbook)], capture_output=True, text=True, env=env, check=False,
                              timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        runs.append((done.stdout, {entry.name: entry.stat().st_mtime_ns for entry in folder.iterdir()}))
    (first, first_entries), (second, second_entries) = runs
    for output in (first, second):
        assert '"msg": "a.go.id,b.go.id"' in output and '"msg": "own a.go.id"' in output
        assert "own b.go.id" not in output and "never" not in output
    assert len(first_entries) >= 4  # the message, the loop, two conditions, the item's message
    assert second_entries == first_entries  # nothing compiled, nothing written again


WARMED_WORKER = """
import json, os, sys
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import connection_loader, init_plugin_loader
from ansible.template import Templar, trust_as_template
from tests.unit.test_mitogen_module_cache import _plugin

init_plugin_loader()  # as ansible-playbook starts
if sys.argv[1] == "warm":
    _plugin()._warm()
read, write = os.pipe()
if os.fork() == 0:  # a worker: render with filters and tests, connect, then say what it imported
    before = set(sys.modules)
    Templar(loader=DataLoader(), variables={"sites": [{"fqdn": "a"}]}).template(
        trust_as_template("{{ sites | map(attribute='fqdn') | list | to_json }} {{ sites is defined }}"))
    connection_loader.get("mitogen_local", class_only=True)
    os.write(write, json.dumps(sorted(set(sys.modules) - before)).encode())
    os._exit(0)
os.close(write)
print(os.fdopen(read).read())
"""


def _imported_by_a_worker(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", WARMED_WORKER, mode], capture_output=True, text=True,
                          cwd=PLUGIN.parents[2], check=True, timeout=120)
    return [name for name in json.loads(done.stdout) if name.startswith(("ansible.plugins.", "ansible_collections."))]


def test_workers_forked_after_the_warm_up_load_no_filter_test_or_connection_plugin() -> None:
    # What each forked worker used to load for itself (3 s of a 73-task run), loaded once before.
    assert _imported_by_a_worker("cold")  # without it, the worker loads them
    assert _imported_by_a_worker("warm") == []
