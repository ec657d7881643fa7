"""A case's trial details name only what is the case's own (issue 10): on a host with hundreds of
sites its report lists neither the other cases' addresses nor their users, and it stays the same
(is not rendered again) when other cases come or go."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner import site, trial
from provisioner.case import load_case
from provisioner.host_facts import InterfaceFacts
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY
from tests.unit.test_vendor_apps import _Sparse

INV = load_inventory(LOCAL_INVENTORY)
OTHERS = tuple(f"198.19.1.{n}" for n in range(1, 200))


@dataclass
class _Crowded(_Sparse):
    """A web host carrying many other sites' addresses and php-fpm workers."""

    addresses: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()

    def interface(self, name: str) -> InterfaceFacts:
        return InterfaceFacts(name, self.addresses)

    def users_running(self, comm: str) -> list[str]:
        return list(self.workers) if comm.startswith("php-fpm") else []


def _checks(addresses: tuple[str, ...], workers: tuple[str, ...]) -> dict[str, trial.Check]:
    built = site.build(load_case(next(EXAMPLES.glob("*sikesda*.yml"))), site.Placement("198.19.0.30", "localhost"),
                       INV, password_file=None)
    assert built.case.runtime == "php"
    facts = _Crowded(files={}, commands={}, addresses=addresses, workers=workers)
    return {c.id: c for c in trial._host_checks(built, INV, facts) if c.id in ("host.address", "php.workers")}


def test_a_crowded_host_passes_naming_only_the_case_s_address_and_user() -> None:
    checks = _checks((*OTHERS, "198.19.0.30"), (*tuple(f"app{n}" for n in range(150)), "sikesda", "www-data"))
    assert checks["host.address"].ok and checks["php.workers"].ok
    assert checks["host.address"].detail == f"{INV.public_interface} carries 198.19.0.30"
    assert checks["host.address"].texts("id")["detail"] == f"{INV.public_interface} memuat 198.19.0.30"
    assert checks["php.workers"].detail == "a php-fpm worker runs as sikesda"


def test_the_details_do_not_change_with_the_other_cases() -> None:
    few = _checks(("198.19.0.30",), ("sikesda",))
    many = _checks((*OTHERS, "198.19.0.30"), (*tuple(f"app{n}" for n in range(150)), "sikesda"))
    assert {k: c.detail for k, c in few.items()} == {k: c.detail for k, c in many.items()}


def test_a_missing_address_and_worker_fail_naming_what_is_missing() -> None:
    checks = _checks(OTHERS, ("www-data",))
    assert not checks["host.address"].ok and not checks["php.workers"].ok
    assert checks["host.address"].detail == f"{INV.public_interface} does not carry 198.19.0.30"
    assert checks["php.workers"].detail == "no php-fpm worker runs as sikesda"
    assert checks["php.workers"].texts("id")["detail"] == "tidak ada proses php-fpm yang berjalan sebagai sikesda"
