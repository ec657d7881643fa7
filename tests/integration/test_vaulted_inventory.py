"""An inventory kept as real servers' are (issue 11): INI hosts, settings in a group_vars folder,
the TSIG key given whole with its secret vaulted (no key file anywhere in the inventory). With the
vault password a case applies, verifies and goes on the local lab; with a wrong one the command
exits 2 naming what could not be decrypted, and nothing changes. The secret appears in nothing the
tool printed or wrote.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from tests import fleet
from tests.conftest import LOCAL_INVENTORY, Cli
from tests.unit import inventory_helpers as vaulting

INV = load_inventory(LOCAL_INVENTORY)
HOSTS_INI = """\
# The local lab's machine, in INI form.
[all]
localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3 provisioner_address=127.0.0.1

[web]
localhost provisioner_shared_address=198.19.0.5

[db_mariadb]
localhost

[db_postgresql]
localhost

[dns_primary]
localhost

[dns_secondary]
"""


@pytest.fixture(scope="module")
def vaulted(lab: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    folder = tmp_path_factory.mktemp("vaulted-inventory")
    (folder / "hosts.ini").write_text(HOSTS_INI)
    settings = yaml.safe_load((LOCAL_INVENTORY / "group_vars" / "all.yml").read_text())
    key = dnsq.read_tsig_key(INV.tsig_key_file)
    del settings["provisioner_tsig_key_file"]
    settings["provisioner_records_dir"] = str(folder.parent / "records")  # outside, as required
    vaulting.write(folder / "group_vars" / "all" / "main.yml", settings)
    vaulting.write(folder / "group_vars" / "all" / "vault.yml", textwrap.dedent(f"""\
        provisioner_tsig_name: {key.name}
        provisioner_tsig_algorithm: {key.algorithm}
        """) + vaulting.inline("provisioner_tsig_secret", key.secret) + "\n")
    password = folder.parent / "vault-password"
    password.write_text(vaulting.PASSWORD + "\n")
    password.chmod(0o600)
    wrong = folder.parent / "wrong-password"
    wrong.write_text("not the password\n")
    cases = folder.parent / "cases"
    cases.mkdir()
    paths = []
    for index, kind in ((0, "php"), (1, "static")):
        data = fleet.case(index, kind, prefix="vault")
        paths.append(cases / f"{data['id']}.yml")
        paths[-1].write_text(yaml.safe_dump(data, sort_keys=False))
    return {"inventory": folder / "hosts.ini", "password": password, "wrong": wrong,
            "case": paths[0], "other": paths[1]}


def test_a_vaulted_ini_inventory_applies_verifies_and_destroys(cli: Cli, vaulted: dict) -> None:
    inv, vault = str(vaulted["inventory"]), ("--vault-password-file", str(vaulted["password"]))
    applied = cli(*vault, "apply", str(vaulted["case"]), "-i", inv)
    assert applied.rc == 0, applied.out.get("message")
    fqdn = applied.out["cases"][0]["fqdn"]
    assert dnsq.query(INV.dns_primary.address, fqdn, "A")[1] == [applied.out["cases"][0]["public_ip"]]
    checked = cli(*vault, "verify", str(vaulted["case"]), "-i", inv)
    assert checked.rc == 0 and all(k["ok"] for k in checked.out["cases"][0]["checks"]), checked.out
    gone = cli(*vault, "destroy", str(vaulted["case"]), "-i", inv, "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out.get("message")
    assert dnsq.query(INV.dns_primary.address, fqdn, "A")[1] == []


def test_a_wrong_vault_password_is_exit_2_naming_the_value_and_changes_nothing(cli: Cli, vaulted: dict) -> None:
    result = cli("--vault-password-file", str(vaulted["wrong"]), "apply", str(vaulted["other"]),
                 "-i", str(vaulted["inventory"]))
    assert result.rc == 2
    assert "provisioner_tsig_secret" in result.stdout + result.stderr
    assert not Path("/etc/provisioner/sites/vault-001.yml").exists()
    fqdn = yaml.safe_load(Path(vaulted["other"]).read_text())["hosting"]["subdomain"] + ".tarakankota.go.id"
    assert dnsq.query(INV.dns_primary.address, fqdn, "A")[1] == []


def test_the_vaulted_secret_is_in_nothing_the_tool_printed_or_wrote(cli: Cli, vaulted: dict) -> None:
    secret = dnsq.read_tsig_key(INV.tsig_key_file).secret  # never in a failure's output: it is not a fixture value
    assert not any(secret in output for output in cli.outputs)
    written = [cli.records, INV.state_dir / "runs"]
    leaks = [str(p) for folder in written if folder.exists() for p in folder.rglob("*")
             if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []
