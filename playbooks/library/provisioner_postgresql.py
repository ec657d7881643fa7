#!/usr/bin/python
"""The PostgreSQL users and databases of many sites in one module call.

A loop of ``community.postgresql`` modules over 500 sites is two thousand module runs, each with
its own connection. This module opens one connection (as the postgres superuser over the unix
socket, the task becoming postgres), reads what exists once, and changes only what differs,
reporting per site in the shape of a loop's results (module_utils/provisioner_batch). Each step
is its own call (``what``): the undo of a failed apply drops a database only when the database
step says this run created it.
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch, side_by_side
from ansible.module_utils.provisioner_dump import (
    drop_each,
    dump_each,
    existing_databases,
    postgresql_program,
    restore_each,
)

DOCUMENTATION = r"""
module: provisioner_postgresql
short_description: Ensure many PostgreSQL users, databases and database privileges at once
description:
  - C(what=users) makes each present user a login role without superuser, createdb or createrole
    rights, with the given password (stored as SCRAM-SHA-256); an absent user is dropped.
  - C(what=databases) creates each missing database (UTF-8, from template0) owned by its user, or
    gives an existing one to its user.
  - C(what=privileges) revokes CONNECT and TEMPORARY on each database from PUBLIC.
  - C(what=dumps) dumps each database (pg_dump) into its target, gzipped, owner-only;
    C(what=drops) then drops each database that exists; C(what=restores) loads each source dump
    into its database as its owner, in one transaction (the dump replaces what it holds).
  - Check mode reports what would change. Needs psycopg2 on the database host.
options:
  what: {description: users, databases, privileges, dumps, restores or drops., type: str, required: true,
         choices: [users, databases, privileges, dumps, drops, restores]}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  skip_missing: {description: "dumps - a database that does not exist is not dumped (reported unchanged): the
                 dump before a drop, when a removal run again finds it dropped already.", type: bool, default: false}
  items:
    description: >-
      users - site, name, password (present only), state (present or absent). databases - site,
      name, owner. privileges and drops - site, name (the database). dumps - site, name, target
      (a .sql.gz path). restores - site, name, owner, source (a .sql.gz dump).
    type: list
    elements: dict
    required: true
"""

FLAGS = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolcanlogin")
WANTED_FLAGS = (False, False, False, True)


DATABASES_QUERY = "SELECT datname FROM pg_database"


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier was made from this password (RFC 5802/7677)."""
    try:
        method, rest = (verifier or "").split("$", 1)
        parameters, keys = rest.split("$", 1)
        iterations, salt = parameters.split(":", 1)
        stored_key = keys.split(":", 1)[0]
    except ValueError:
        return False
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def user_statements(item: dict, row: tuple | None) -> list[tuple[str, tuple]]:
    """What makes one user right, given its pg_authid row (flags, then the stored password)."""
    role = quote_name(item["name"])
    if item.get("state", "present") == "absent":
        return [] if row is None else [(f"DROP ROLE {role}", ())]
    if row is None:
        return [(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", (item["password"],))]
    statements = []
    if tuple(row[: len(FLAGS)]) != WANTED_FLAGS:
        statements.append((f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", ()))
    if item.get("password") and not scram_matches(row[len(FLAGS)], item["password"]):
        statements.append((f"ALTER ROLE {role} PASSWORD %s", (item["password"],)))
    return statements


def _users(module, cursor, batch):
    cursor.execute(f"SELECT rolname, {', '.join(FLAGS)}, rolpassword FROM pg_authid")
    existing = {row[0]: row[1:] for row in cursor.fetchall()}
    for item in module.params["items"]:
        state = item.get("state", "present")
        # `plan` (check mode) of a new case has no password yet: whether it would change is known without it.
        if not item.get("name") or state not in ("present", "absent") or (
                state == "present" and not (item.get("password") or module.check_mode)):
            batch.failed(item, f"user {item.get('name')}: needs a name, and a password when present",
                         name=item.get("name"))
            continue
        statements = user_statements(item, existing.get(item["name"]))
        _run(module, cursor, statements)
        batch.done(item, bool(statements), name=item["name"])


def _databases(module, cursor, batch, connect=None):
    """Each item's database created, or given to its owner; the statements on connections of
    their own, a few at a time (``connect``; None: this cursor's alone)."""
    cursor.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")
    owners = dict(cursor.fetchall())
    wanted = {}
    for index, item in enumerate(module.params["items"]):
        if not item.get("name") or not item.get("owner"):
            continue
        name, owner = quote_name(item["name"]), quote_name(item["owner"])
        if item["name"] not in owners:
            wanted[index] = [(f"CREATE DATABASE {name} OWNER {owner} ENCODING 'UTF-8' TEMPLATE template0", ())]
        elif owners[item["name"]] != item["owner"]:
            wanted[index] = [(f"ALTER DATABASE {name} OWNER TO {owner}", ())]
    errors = {}
    if not module.check_mode:
        if connect is None:
            for statements in wanted.values():
                _run(module, cursor, statements)
        else:
            errors = side_by_side(connect, wanted)
    for index, item in enumerate(module.params["items"]):
        if not item.get("name") or not item.get("owner"):
            batch.failed(item, f"database {item.get('name')}: needs a name and an owner", db=item.get("name"))
        elif index in errors:
            batch.failed(item, f"database {item['name']}: {errors[index]}", db=item["name"])
        else:
            batch.done(item, index in wanted, db=item["name"])


def _privileges(module, cursor, batch):
    # grantee 0 is PUBLIC; a database without an ACL has the defaults, which let PUBLIC connect.
    cursor.execute("SELECT d.datname, a.privilege_type FROM pg_database d, "
                   "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a WHERE a.grantee = 0")
    public = {}
    for name, privilege in cursor.fetchall():
        public.setdefault(name, set()).add(privilege)
    for item in module.params["items"]:
        if not item.get("name"):
            batch.failed(item, "a database needs a name")
            continue
        granted = public.get(item["name"], set()) & {"CONNECT", "TEMPORARY"}
        statements = [(f"REVOKE CONNECT, TEMPORARY ON DATABASE {quote_name(item['name'])} FROM PUBLIC", ())] \
            if granted else []
        _run(module, cursor, statements)
        batch.done(item, bool(statements), db=item["name"])


def _run(module, cursor, statements):
    if not module.check_mode:
        for statement, arguments in statements:
            cursor.execute(statement, arguments or None)


def _dumps(module, cursor, batch):
    pg_dump = postgresql_program("pg_dump")
    # --clean --if-exists: a restore replaces what is there, as a MariaDB dump's DROP TABLE does.
    existing = existing_databases(cursor, DATABASES_QUERY) if module.params["skip_missing"] else None
    dump_each(module, batch, lambda item: [pg_dump, "--clean", "--if-exists", f"--dbname={item['name']}"], existing)


def _restores(module, cursor, batch):
    psql = postgresql_program("psql")
    # One transaction, as the database's owner: what it creates is the application's, and a dump
    # that fails halfway changes nothing.
    restore_each(module, batch,
                 lambda item: [psql, "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                               f"--dbname={item['name']}"],
                 lambda item: f"SET ROLE {quote_name(item['owner'])};\n".encode())


def _drops(module, cursor, batch, connect=None):
    drop_each(module, batch, cursor, DATABASES_QUERY, quote_name, connect=connect)


STEPS = {"users": _users, "databases": _databases, "privileges": _privileges, "dumps": _dumps, "drops": _drops,
         "restores": _restores}


def main():
    module = AnsibleModule(
        argument_spec={**ARGUMENTS, "what": {"type": "str", "required": True, "choices": sorted(STEPS)},
                       "skip_missing": {"type": "bool", "default": False}},
        supports_check_mode=True)
    batch = Batch(module)
    try:
        import psycopg2
    except ImportError:
        module.fail_json(msg="provisioner_postgresql needs psycopg2 (python3-psycopg2) on the database host")
    try:
        connection = psycopg2.connect(dbname="postgres")
    except Exception as exc:  # psycopg2's own hierarchy; the message names the cause
        module.fail_json(msg=f"cannot connect to PostgreSQL as {getpass.getuser()}: {exc}")
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    step = STEPS[module.params["what"]]
    if step in (_databases, _drops):  # each waits on the server's disk: a few at a time

        def connect():
            more = psycopg2.connect(dbname="postgres")
            more.autocommit = True
            return more

        step = functools.partial(step, connect=connect)
    batch.run_on(connection, step, "PostgreSQL")


if __name__ == "__main__":
    main()
