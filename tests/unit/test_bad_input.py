"""Bad input a person really types, and archives that must never be unpacked; a property test."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.case import load_case, parse_case
from provisioner.errors import InvalidInput
from tests.conftest import example
from tests.unit.test_case import _errors, _set


@pytest.mark.parametrize("name", ["www", "mail", "ns1", "localhost"])
def test_reserved_subdomains_are_refused(write_case, name: str) -> None:
    assert "is reserved" in _errors(write_case(_set(example("ppid"), "hosting.subdomain", name)))["hosting.subdomain"]


@pytest.mark.parametrize("name", ["root", "mysql", "postgres", "www-data", "bind"])
def test_system_account_names_are_refused_as_application_names(write_case, name: str) -> None:
    errors = _errors(write_case(_set(example("sikesda"), "application.name", name)))
    assert "system account name" in errors["application.name"]


@pytest.mark.parametrize(("field", "value"), [("hosting.database.name", "information_schema"),
                                              ("hosting.database.name", "mysql"),
                                              ("hosting.database.user", "root")])
def test_reserved_database_names_are_refused(write_case, field: str, value: str) -> None:
    assert "is reserved" in _errors(write_case(_set(example("sikesda"), field, value)))[field]


def test_unicode_names_are_refused_with_their_idna_form(write_case) -> None:
    errors = _errors(write_case(_set(example("ppid"), "hosting.subdomain", "dinkes-sehat\u00e9")))
    assert "Unicode names are refused" in errors["hosting.subdomain"]
    assert "xn--" in errors["hosting.subdomain"]


def _tar(path: Path, members: list[tuple[str, str | None]]) -> Path:
    """Members: (name, link target or None for a small file)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, target in members:
            info = tarfile.TarInfo(name)
            if target is None:
                data = b"x"
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE
                info.linkname = target
                archive.addfile(info)
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/etc/cron.d/evil", None)], "outside the document root"),
        ([("../../etc/passwd", None)], "outside the document root"),
        ([("ok/../../x", None)], "outside the document root"),
        ([("link", "/etc/shadow")], "points outside"),
        ([("a/link", "../../../etc")], "points outside"),
    ],
)
def test_archives_that_escape_are_refused(write_case, tmp_path: Path, members: Any, message: str) -> None:
    archive = _tar(tmp_path / "bad-1.0.tar.gz", members)
    errors = _errors(write_case(_set(example("ppid"), "application.release", str(archive))))
    assert message in errors["application.release"]


def test_a_safe_archive_with_an_inner_link_is_accepted(write_case, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok-1.0.tar.gz", [("index.html", None), ("css/site.css", None),
                                                ("latest", "css/site.css")])
    assert load_case(write_case(_set(example("ppid"), "application.release", str(archive)))).release == archive


def test_a_file_that_is_no_archive_is_refused(write_case, tmp_path: Path) -> None:
    fake = tmp_path / "fake-1.0.tar.gz"
    fake.write_text("this is not an archive\n")
    assert "is not a tar or zip archive" in _errors(
        write_case(_set(example("ppid"), "application.release", str(fake))))["application.release"]


def test_a_zip_escaping_is_refused(write_case, tmp_path: Path) -> None:
    path = tmp_path / "bad-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../evil.php", "<?php")
    assert "outside the document root" in _errors(
        write_case(_set(example("ppid"), "application.release", str(path))))["application.release"]


# --- property: no input crashes the loader; every rejection names a path ------------------------

YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """A valid case with one field replaced by anything, or a field added, or one removed."""
    bases = [example("simpeg"), example("sikesda")]  # a proxy without a release; PHP with one
    fields = ["id", "opd", "opd.code", "letter.date", "approval.status", "application", "application.name",
              "application.trial", "application.upstream", "hosting.subdomain", "hosting.public_ip",
              "hosting.database", "hosting.database.engine", "contact.email", "sop",
              "application.document_root", "application.writable", "application.php", "application.php.extensions",
              "application.php.settings", "application.env", "application.commands", "application.cron"]
    return st.builds(lambda base, field, value: _set(base, field, value), st.sampled_from(bases),
                     st.sampled_from(fields), YAML_VALUES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_mutations())
def test_no_mutated_case_crashes_the_loader(tmp_path: Path, data: dict[str, Any]) -> None:
    try:
        parse_case(data, tmp_path)
    except InvalidInput as exc:
        assert exc.errors and all(e.path or e.message for e in exc.errors)
        assert all(isinstance(e.path, str) and e.message for e in exc.errors)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_no_text_crashes_the_file_loader(write_case, text: str) -> None:
    path = write_case(text, "fuzz.yml")
    try:
        load_case(path)
    except InvalidInput as exc:
        assert exc.errors
    except yaml.YAMLError:
        pytest.fail("a YAML error escaped the loader")
