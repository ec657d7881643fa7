"""The trial's host reader (provisioner/host_facts.py) against this machine: real files, users,
processes and interfaces, read through testinfra's local backend as the trial reads a local host."""

from __future__ import annotations

import hashlib
import os
import pwd
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

from provisioner import host_facts
from provisioner.host_facts import FactsRequest, HostFacts

LOCAL = testinfra.get_host("local://")
ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A file, a folder, a link to each, a link to nothing and a unix socket."""
    paths = {"file": tmp_path / "site.conf", "folder": tmp_path / "public", "link": tmp_path / "enabled.conf",
             "folder_link": tmp_path / "public-link", "dangling": tmp_path / "gone.conf",
             "socket": tmp_path / "pool.sock", "missing": tmp_path / "nothing-here"}
    paths["file"].write_text("<VirtualHost 198.19.0.10:80>\n  ServerName ppid.example\n</VirtualHost>\n")
    paths["file"].chmod(0o640)
    paths["folder"].mkdir(mode=0o750)
    paths["folder"].chmod(0o750)
    paths["link"].symlink_to(paths["file"])
    paths["folder_link"].symlink_to(paths["folder"])
    paths["dangling"].symlink_to(tmp_path / "never-written")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(paths["socket"]))
    yield paths
    server.close()


def _read(request: FactsRequest, **options: Any) -> HostFacts:
    return host_facts.read(LOCAL, request, name="localhost", **options)


def _ask_files(paths: dict[str, Path]) -> FactsRequest:
    request = FactsRequest()
    for path in paths.values():
        request.file(str(path))
    return request


@pytest.mark.parametrize("name", ["file", "folder", "link", "folder_link", "dangling", "socket", "missing"])
def test_a_path_reads_as_testinfra_reads_it(tree: dict[str, Path], name: str) -> None:
    facts = _read(_ask_files(tree)).file(str(tree[name]))
    expected = LOCAL.file(str(tree[name]))
    assert (facts.exists, facts.is_symlink, facts.is_file, facts.is_directory, facts.is_socket) == (
        expected.exists, expected.is_symlink, expected.is_file, expected.is_directory, expected.is_socket)
    if expected.exists:
        assert (facts.user, facts.mode) == (expected.user, expected.mode)


def test_owner_and_mode_are_of_what_a_link_leads_to(tree: dict[str, Path]) -> None:
    facts = _read(_ask_files(tree))
    for name in ("file", "link"):
        assert (facts.file(str(tree[name])).user, facts.file(str(tree[name])).mode) == (ME, 0o640)
    assert facts.file(str(tree["folder_link"])).mode == 0o750
    assert facts.file(str(tree["missing"])).kind == "missing"


def test_checksum_content_and_texts_are_read_when_asked(tree: dict[str, Path]) -> None:
    request = FactsRequest()
    request.file(str(tree["link"]), sha256=True, contains=("198.19.0.10:", "198.19.0.99:"))
    request.file(str(tree["file"]), content=True)
    request.file(str(tree["folder"]), sha256=True)
    facts = _read(request)
    via_link = facts.file(str(tree["link"]))
    assert via_link.sha256 == hashlib.sha256(tree["file"].read_bytes()).hexdigest()
    assert via_link.found == {"198.19.0.10:"}
    assert via_link.content is None
    assert facts.file(str(tree["file"])).content == tree["file"].read_text()
    assert facts.file(str(tree["folder"])).sha256 == ""


@pytest.mark.parametrize("name", ["root", "nobody", "no-such-user-here"])
def test_users_and_their_shells(name: str) -> None:
    request = FactsRequest()
    request.user(name)
    user = _read(request).user(name)
    expected = LOCAL.user(name)
    assert user.exists == expected.exists
    if expected.exists:
        assert user.shell == expected.shell == pwd.getpwnam(name).pw_shell


def test_the_process_list_names_this_process_and_its_user() -> None:
    request = FactsRequest()
    request.process_list()
    facts = _read(request)
    comm = Path("/proc/self/comm").read_text().strip()
    assert ME in facts.users_running(comm)
    assert len(facts.processes or []) >= len(LOCAL.process.filter(user=ME)) > 0


def test_the_addresses_of_an_interface_and_a_missing_one() -> None:
    request = FactsRequest()
    request.interface("lo")
    request.interface("nosuchif0")
    facts = _read(request)
    assert "127.0.0.1" in (facts.interface("lo").addresses or ())
    assert facts.interface("nosuchif0").addresses is None
    assert "nosuchif0" in facts.interface("nosuchif0").error


def test_commands_report_exit_code_and_both_outputs() -> None:
    request = FactsRequest()
    request.command("fails", "echo said; echo complained >&2; exit 3")
    request.command("passes", "printf 1")
    facts = _read(request)
    assert facts.command("fails") == host_facts.CommandResult(3, "said\n", "complained\n")
    assert facts.command("passes").rc == 0 and facts.command("passes").stdout == "1"


def test_commands_run_a_few_at_a_time() -> None:
    request = FactsRequest()
    for index in range(host_facts.PARALLEL):
        request.command(f"wait {index}", "sleep 0.5")
    start = time.monotonic()
    _read(request)
    assert time.monotonic() - start < 0.5 * host_facts.PARALLEL / 2


def test_never_more_commands_at_once_than_asked_and_each_answer_under_its_key(tmp_path: Path) -> None:
    """The reader runs the commands on threads of its own (host_facts_probe.run_all): at most
    ``parallel`` at a time, every one of them, each answer under its own key in the given order."""
    from provisioner import host_facts_probe

    running = tmp_path / "running"
    running.mkdir()
    # Each says how many were running when it began (itself included), stays a while, then leaves.
    commands = [[f"c{index}", f"touch {running}/{index}; ls {running} | wc -l; sleep 0.2; rm {running}/{index}"]
                for index in range(7)]
    answers = host_facts_probe.run_all(commands, timeout=30, parallel=3)
    assert list(answers) == [key for key, _ in commands]
    seen = [int(answer["stdout"]) for answer in answers.values()]
    assert all(answer["rc"] == 0 for answer in answers.values())
    assert max(seen) == 3 and min(seen) >= 1
    assert list(running.iterdir()) == []


def test_asking_twice_reads_once_with_every_wish() -> None:
    request = FactsRequest()
    request.file("/etc/passwd", sha256=True)
    request.file("/etc/passwd", contains=("root:",))
    request.command("k", "true")
    request.command("k", "true")
    lines = host_facts.command_lines(request)
    assert len(lines) == 1
    facts = _read(request).file("/etc/passwd")
    assert facts.sha256 and facts.found == {"root:"}


def test_a_host_that_cannot_run_the_reader_is_named() -> None:
    with pytest.raises(RuntimeError, match="localhost: reading the host failed"):
        _read(FactsRequest(), python="/nonexistent/python3")


# --- chunking ------------------------------------------------------------------------------

def _many(tmp_path: Path, count: int) -> FactsRequest:
    """``count`` files with names that do not compress, a few users, commands, processes, lo."""
    request = FactsRequest()
    for index in range(count):
        path = tmp_path / f"{hashlib.sha256(str(index).encode()).hexdigest()}.conf"
        if index % 2:
            path.write_text(f"site {index}\n")
        request.file(str(path), sha256=bool(index % 3), contains=(f"site {index}",))
    for name in ("root", "nobody", "no-such-user-here"):
        request.user(name)
    for index in range(5):
        request.command(f"c{index}", f"echo {index}")
    request.process_list()
    request.interface("lo")
    return request


def test_a_large_request_is_split_into_commands_within_the_limit(tmp_path: Path) -> None:
    request = _many(tmp_path, 600)
    lines = host_facts.command_lines(request, limit=20_000)
    assert len(lines) > 1
    assert all(len(line) <= 20_000 for line in lines)
    assert len(host_facts.command_lines(request)) == 1


def test_split_or_not_the_answer_is_the_same(tmp_path: Path) -> None:
    request = _many(tmp_path, 600)
    whole = _read(request)
    split = _read(request, limit=20_000)
    assert split.files == whole.files and len(split.files) == 600
    assert split.users == whole.users
    assert split.commands == whole.commands
    assert split.interfaces == whole.interfaces
    assert split.processes is not None and whole.processes is not None


def test_the_request_travels_compressed_500_sites_in_one_command() -> None:
    """The paths of 500 sites (7 each, as the trial asks) fit one command line."""
    request = FactsRequest()
    for index in range(500):
        fqdn = f"aplikasi{index:03d}.tarakankota.go.id"
        root = f"/srv/www/{fqdn}"
        for path in (f"/etc/apache2/sites-enabled/{fqdn}.conf", f"/etc/provisioner/sites/2026-{index:03d}.yml",
                     f"{root}/public", f"{root}/app.env", f"/etc/php/8.2/fpm/pool.d/aplikasi{index:03d}.conf",
                     f"/run/php/provisioner-aplikasi{index:03d}.sock"):
            request.file(path)
        request.file(f"/etc/apache2/sites-available/{fqdn}.conf", sha256=True, contains=(f"198.19.0.{index % 250}:",))
        request.user(f"aplikasi{index:03d}")
    lines = host_facts.command_lines(request)
    assert len(lines) == 1 and len(lines[0]) < host_facts.COMMAND_LIMIT



def test_the_addresses_of_a_host_with_hundreds_of_sites_are_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ip -j` on a web host with 500 site addresses prints ~60 KiB: more than a command's tail."""
    import json

    from provisioner import host_facts_probe

    big = host_facts_probe.run("head -c 40000 /dev/zero | tr '\\0' x", 5.0, tail=None)
    assert len(big["stdout"]) == 40000
    assert len(host_facts_probe.run("head -c 40000 /dev/zero | tr '\\0' x", 5.0)["stdout"]) == \
        host_facts_probe.OUTPUT_TAIL
    many = [{"ifname": "provpub0", "addr_info": [{"local": f"198.19.{i // 250}.{i % 250 + 1}", "prefixlen": 32}
                                                for i in range(500)]}]
    text = json.dumps(many)
    real_run = host_facts_probe.run

    def ip(command: str, timeout: float, tail: int | None = host_facts_probe.OUTPUT_TAIL) -> dict[str, Any]:
        assert command.startswith("ip -j")
        return {**real_run("true", timeout), "stdout": text[-tail:] if tail else text}

    monkeypatch.setattr(host_facts_probe, "run", ip)
    found = host_facts_probe.addresses("provpub0", 5.0)
    assert found["error"] == "" and len(found["addresses"]) == 500


def test_psql_is_the_client_itself_where_debian_keeps_it_else_psql_from_path(tmp_path: Path) -> None:
    import subprocess

    def word(root: Path) -> str:
        return subprocess.run(f"echo {host_facts.psql_word(str(root))}", shell=True, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert word(tmp_path / "none") == "psql"
    program = tmp_path / "with space" / "15" / "bin" / "psql"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho client \"$@\"\n")
    assert word(tmp_path / "with space") == "psql"  # not executable: not a client
    program.chmod(0o755)
    assert word(tmp_path / "with space") == str(program)
    ran = subprocess.run(f"{host_facts.psql_word(str(tmp_path / 'with space'))} -tA -c 'SELECT 1'", shell=True,
                         capture_output=True, text=True, check=True)
    assert ran.stdout == "client -tA -c SELECT 1\n"


def test_the_web_hosts_registry_is_read_by_the_inventorys_python_not_the_first_on_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner.hosts import Hosts
    from provisioner.inventory import Host

    ran = tmp_path / "ran"
    interpreter = tmp_path / "python-of-the-inventory"
    interpreter.write_text(f'#!/bin/sh\necho "$@" > {ran}\nexec /usr/bin/python3 "$@"\n')
    interpreter.chmod(0o755)
    elsewhere = tmp_path / "bin"
    elsewhere.mkdir()
    (elsewhere / "python3").write_text("#!/bin/sh\nexit 3\n")  # the first python3 on PATH
    (elsewhere / "python3").chmod(0o755)
    monkeypatch.setenv("PATH", f"{elsewhere}:{os.environ['PATH']}")
    web = Host("web", {"ansible_connection": "local", "ansible_python_interpreter": str(interpreter)})
    state = Hosts(None).web_state(web)  # type: ignore[arg-type]
    assert "--registry" in ran.read_text() and isinstance(state.records, dict)
    assert Hosts.python(Host("web", {"ansible_python_interpreter": "auto_silent"})) == "python3"
    assert Hosts.python(Host("web", {})) == "python3"
