#!/usr/bin/python
"""The MariaDB databases and users of many sites in one module call.

A loop of ``community.mysql.mysql_db`` and ``mysql_user`` over 500 sites is a thousand module
runs, each opening its own connection. This module opens one connection (root over the unix
socket), reads what exists once, and changes only what differs, reporting per site in the shape
of a loop's results (module_utils/provisioner_batch) so that the role's report of what changed
reads it as any loop. Databases and users are separate calls (``what``): the undo of a failed
apply drops a database only when the database step says this run created it.
"""

from __future__ import annotations

import hashlib

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch
from ansible.module_utils.provisioner_dump import drop_each, dump_each, existing_databases, restore_each

DOCUMENTATION = r"""
module: provisioner_mariadb
short_description: Ensure many MariaDB databases, or users with rights on one database each, at once
description:
  - C(what=databases) creates each missing database (utf8mb4, utf8mb4_unicode_ci); an existing one
    is left as it is.
  - C(what=users) makes each present user exist at its client host with the given password and
    exactly one grant, ALL on its database (other rights are revoked); an absent user is dropped.
  - C(what=dumps) dumps each database (mariadb-dump, one transaction) into its target, gzipped,
    owner-only; C(what=drops) then drops each database that exists; C(what=restores) loads each
    source dump into its database (its tables replaced: the dumps drop each table first).
  - Check mode reports what would change. Needs PyMySQL on the database host.
options:
  what: {description: databases, users, dumps, restores or drops., type: str, required: true,
         choices: [databases, users, dumps, drops, restores]}
  login_unix_socket: {description: The server's socket; root connects through it., type: str, required: true}
  skip_missing: {description: "dumps - a database that does not exist is not dumped (reported unchanged): the
                 dump before a drop, when a removal run again finds it dropped already.", type: bool, default: false}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: >-
      databases and drops - site, name. users - site, name, host, database, password (present
      only) and state (present or absent). dumps - site, name, target (a .sql.gz path).
      restores - site, name, source (a .sql.gz dump).
    type: list
    elements: dict
    required: true
"""


DATABASES_QUERY = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"


def native_hash(password: str) -> str:
    """The mysql_native_password hash of a password, as the server stores it."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def account(name: str, host: str) -> str:
    return "'" + name.replace("'", "''") + "'@'" + host.replace("'", "''") + "'"


def wanted_grants(item: dict) -> set[str]:
    """SHOW GRANTS for a user with ALL on its database only, the password part left out."""
    who = "`" + item["name"] + "`@`" + item["host"] + "`"
    return {f"GRANT USAGE ON *.* TO {who}", f"GRANT ALL PRIVILEGES ON {quote_name(item['database'])}.* TO {who}"}


def grants_of(lines: list[str]) -> set[str]:
    """SHOW GRANTS lines without the password hash clause, which is compared on its own."""
    return {line.split(" IDENTIFIED BY ")[0].strip() for line in lines}


def _connect(module):
    try:
        import pymysql
    except ImportError:
        module.fail_json(msg="provisioner_mariadb needs PyMySQL (python3-pymysql) on the database host")
    try:
        return pymysql.connect(unix_socket=module.params["login_unix_socket"], user="root", autocommit=True)
    except Exception as exc:  # pymysql raises its own hierarchy; the message names the cause
        module.fail_json(msg=f"cannot connect to MariaDB at {module.params['login_unix_socket']}: {exc}")


def _databases(module, cursor, batch):
    existing = existing_databases(cursor, DATABASES_QUERY)
    for item in module.params["items"]:
        name = item.get("name")
        if not name:
            batch.failed(item, "a database needs a name")
            continue
        missing = name not in existing
        if missing and not module.check_mode:
            cursor.execute(f"CREATE DATABASE {quote_name(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            existing.add(name)
        batch.done(item, missing, db=name)


def _user_statements(item, row, grants):
    """What makes one present user right: (statements, their arguments) in order."""
    who = account(item["name"], item["host"])
    if row is None:
        return [(f"CREATE USER {who} IDENTIFIED BY %s", (item["password"],)),
                (f"GRANT ALL PRIVILEGES ON {quote_name(item['database'])}.* TO {who}", ())]
    statements = []
    plugin, stored = row
    if item["password"] and (plugin not in ("mysql_native_password", "") or stored != native_hash(item["password"])):
        statements.append((f"ALTER USER {who} IDENTIFIED BY %s", (item["password"],)))
    if grants != wanted_grants(item):
        statements += [(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {who}", ()),
                       (f"GRANT ALL PRIVILEGES ON {quote_name(item['database'])}.* TO {who}", ())]
    return statements


def _users(module, cursor, batch):
    cursor.execute("SELECT User, Host, plugin, authentication_string FROM mysql.user")
    existing = {(user, host): (plugin, stored) for user, host, plugin, stored in cursor.fetchall()}
    for item in module.params["items"]:
        state = item.get("state", "present")
        # `plan` (check mode) of a new case has no password yet: whether it would change is known without it.
        if not item.get("name") or not item.get("host") or state not in ("present", "absent") or (
                state == "present" and not (item.get("database") and (item.get("password") or module.check_mode))):
            batch.failed(item, f"user {item.get('name')}: needs a name, a host, and when present a database "
                               "and a password", name=item.get("name"))
            continue
        row = existing.get((item["name"], item["host"]))
        if state == "absent":
            statements = [] if row is None else [(f"DROP USER {account(item['name'], item['host'])}", ())]
        else:
            grants = set()
            if row is not None:
                cursor.execute(f"SHOW GRANTS FOR {account(item['name'], item['host'])}")
                grants = grants_of([line for (line,) in cursor.fetchall()])
            statements = _user_statements(item, row, grants)
        if not module.check_mode:
            for statement, arguments in statements:
                cursor.execute(statement, arguments or None)
        batch.done(item, bool(statements), name=item["name"])


def _dumps(module, cursor, batch):
    socket = module.params["login_unix_socket"]
    existing = existing_databases(cursor, DATABASES_QUERY) if module.params["skip_missing"] else None
    dump_each(module, batch, lambda item: ["mariadb-dump", f"--socket={socket}", "--user=root",
                                           "--single-transaction", "--quick", "--", item["name"]], existing)


def _restores(module, cursor, batch):
    socket = module.params["login_unix_socket"]
    restore_each(module, batch, lambda item: ["mariadb", f"--socket={socket}", "--user=root", "--batch",
                                              "--", item["name"]])


def _drops(module, cursor, batch):
    drop_each(module, batch, cursor, DATABASES_QUERY, quote_name)


STEPS = {"databases": _databases, "users": _users, "dumps": _dumps, "drops": _drops, "restores": _restores}


def main():
    module = AnsibleModule(
        argument_spec={**ARGUMENTS, "what": {"type": "str", "required": True, "choices": sorted(STEPS)},
                       "login_unix_socket": {"type": "str", "required": True},
                       "skip_missing": {"type": "bool", "default": False}},
        supports_check_mode=True)
    batch = Batch(module)
    connection = _connect(module)
    batch.run_on(connection, STEPS[module.params["what"]], "MariaDB")


if __name__ == "__main__":
    main()
