"""The command-line contract without servers: exit codes, messages and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, example


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioner", *args], capture_output=True, text=True, check=False)


def test_check_accepts_the_examples() -> None:
    result = CliRunner().invoke(cli, ["check", *map(str, sorted(EXAMPLES.glob("*.yml")))])
    assert result.exit_code == 0, result.output
    assert "3 case(s) valid" in result.output


def test_check_lists_every_problem_with_its_path(write_case) -> None:
    data = example("sikesda")
    data["hosting"]["subdomain"] = "Bad_Name"
    data["application"]["runtime"] = "jsp"
    result = _run("check", str(write_case(data)), "--json")
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert out["status"] == "invalid" and out["exit_code"] == 2
    assert {e["path"] for e in out["errors"]} == {"hosting.subdomain", "application.runtime"}


def test_check_of_a_pending_case_is_refused(write_case) -> None:
    data = example("ppid")
    data["approval"]["status"] = "pending"
    result = _run("check", str(write_case(data)), "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["status"] == "refused"


def test_json_output_is_exactly_one_object(write_case) -> None:
    result = _run("check", str(EXAMPLES / "2026-011-ppid-static.yml"), "--json")
    assert result.returncode == 0
    out = json.loads(result.stdout)  # the whole stdout parses: nothing else was printed there
    assert set(out) >= {"command", "status", "exit_code", "cases", "errors", "duration_s"}
    assert out["cases"][0] == {"id": "2026-011", "fqdn": "ppid.tarakankota.go.id", "public_ip": None,
                               "changed": 0, "checks": [], "records": []}


def test_a_missing_file_is_invalid() -> None:
    result = _run("check", "/nonexistent/case.yml", "--json")
    assert result.returncode == 2
    assert "no such file" in json.loads(result.stdout)["errors"][0]["message"]


def test_apply_without_inventory_is_a_usage_error_as_json() -> None:
    result = _run("apply", str(EXAMPLES / "2026-011-ppid-static.yml"), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["status"] == "invalid"


@pytest.mark.parametrize(("args", "command"), [
    (["--records", "/tmp/r", "destroy", "x.yml", "--drop-database"], "destroy"),
    (["--records=/tmp/r", "--lang", "en", "--debug", "apply"], "apply"),
    (["--vault-id", "apply", "check", "x.yml"], "check"),
    (["case", "step", "x.yml", "--step", "9"], "case step"),
    (["lab"], "lab"),
    (["frobnicate", "x"], "frobnicate"),
    ([], ""),
])
def test_an_error_before_the_command_runs_names_the_command(args: list[str], command: str) -> None:
    from provisioner.cli import command_words

    assert command_words(args) == command


def test_a_usage_error_after_root_options_names_the_command_in_json() -> None:
    result = _run("--records", "/nonexistent/records", "destroy", str(EXAMPLES / "2026-011-ppid-static.yml"),
                  "-i", str(LOCAL_INVENTORY), "--drop-database", "--json")
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert (out["command"], out["status"]) == ("destroy", "invalid")
    assert "--yes" in out["message"]


def test_apply_with_a_missing_inventory_is_invalid(tmp_path: Path) -> None:
    result = _run("apply", str(EXAMPLES / "2026-011-ppid-static.yml"), "-i", str(tmp_path / "nope"), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["errors"][0]["path"] == "-i"


@pytest.mark.parametrize("yaml_text", ["[1, 2]", "id: [\n"])
def test_yaml_that_is_not_a_case_is_invalid(write_case, yaml_text: str) -> None:
    result = CliRunner().invoke(cli, ["check", str(write_case(yaml_text))])
    assert result.exit_code == 2


def test_a_case_for_an_unserved_zone_is_invalid_on_an_inventory(write_case) -> None:
    data = example("ppid")
    data["hosting"]["zone"] = "example.org"
    result = _run("check", str(write_case(data)), "-i", str(LOCAL_INVENTORY), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["errors"][0]["path"] == "hosting.zone"


def test_help_does_not_load_ansible_testinfra_or_the_pdf_renderer() -> None:
    """Each verb imports its command when it runs: `--help` stays cheap (bench/ measures the time)."""
    code = ("import sys\nfrom provisioner.cli import main\nsys.argv = ['provisioner', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('ansible_runner', 'testinfra', 'paramiko', 'weasyprint') if m in sys.modules]\n"
            "print('heavy:', heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "heavy: []" in done.stdout, done.stdout


def test_commands_reading_only_local_hosts_do_not_load_paramiko() -> None:
    """paramiko (a fifth of a second to import) is loaded only for a remote host: apply, verify and a
    read of the local inventory's host do without it (provisioner/ssh.py holds the SSH side). Nor is
    cryptography's X.509 (30 to 80 ms) loaded before a trial meets a certificate."""
    code = ("import sys\nfrom pathlib import Path\nimport provisioner.commands.apply, provisioner.commands.verify\n"
            "from provisioner.hosts import Hosts\nfrom provisioner.inventory import load_inventory\n"
            f"inventory = load_inventory(Path({str(LOCAL_INVENTORY)!r}))\n"
            "host = inventory.web_hosts[0]\n"
            "print('ok:', Hosts(inventory).get(host).run('true').rc)\n"
            "print('paramiko:', 'paramiko' in sys.modules)\n"
            "print('x509:', 'cryptography.x509' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ok: 0" in done.stdout and "paramiko: False" in done.stdout, done.stdout + done.stderr
    assert "x509: False" in done.stdout, done.stdout


# Libraries only a run against servers or a rendering needs: Ansible, SSH, testinfra, DNS, X.509, templates, PDF.
SERVER_LIBRARIES = ("ansible_runner", "testinfra", "paramiko", "weasyprint", "cryptography", "dns", "jinja2",
                    "markdown")


@pytest.mark.parametrize(("args", "heavy"), [
    (["check", str(EXAMPLES / "2026-014-sikesda-php.yml")], SERVER_LIBRARIES),
    (["check", str(EXAMPLES / "2026-014-sikesda-php.yml"), "--json"], (*SERVER_LIBRARIES, "rich")),
], ids=["text", "json"])
def test_check_without_inventory_loads_no_server_library(args: list[str], heavy: tuple[str, ...]) -> None:
    """`check CASE` reads and validates files only; a top-level import of one of these makes it slow again.

    The case validates (exit 0, its release archive inspected), so the check really ran; with --json
    nothing is printed through rich, so rich is not loaded either.
    """
    code = ("import sys\nfrom provisioner.cli import main\n"
            f"sys.argv = ['provisioner', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('exit:', exc.code)\n"
            f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
            "print('heavy:', heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "exit: 0" in done.stdout and "heavy: []" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("as_json", [True, False])
def test_an_unexpected_error_says_what_to_do_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    """Never a bare traceback or a broken --json: a bug in any command is reported like a failure."""
    import provisioner.cli as entry
    from provisioner.commands import check

    def broken(*_: object, **__: object) -> None:
        raise OSError(7, "Argument list too long")

    monkeypatch.setattr(check, "run", broken)
    monkeypatch.setattr(sys, "argv", ["provisioner", "check", str(next(EXAMPLES.glob("*.yml"))),
                                      *(["--json"] if as_json else [])])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    said = json.loads(out)["message"] if as_json else err
    assert "unexpected error OSError" in said and "--debug" in said
    if as_json:
        assert json.loads(out)["status"] == "failed"
