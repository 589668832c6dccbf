"""The operator's command line on real data folders: it fails loudly, in one line, and never guesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server import free_port

PASSWORD = "correct horse battery"


def qasid(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`qasid …` run in `cwd` with none of the developer's QASID_ variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("QASID_")}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return subprocess.run([sys.executable, "-m", "qasid.cli", *args], cwd=cwd, env={**base, **(env or {})},
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed command: a single `error: …` line (after the data folder line), no traceback."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if not line.startswith("qasid: data folder")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_missing_data_folder_is_an_error_that_names_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args, folder in ((("admin", "official", "list"), elsewhere / "qasid-data"),
                         (("admin", "unit", "create", "--code", "X", "--name", "X", "--data-dir", "typo"),
                          elsewhere / "typo"),
                         (("admin", "token", "create", "--data-dir", str(tmp_path)), tmp_path)):
        line = one_error_line(qasid(elsewhere, *args))
        assert f"data folder {folder} " in line, line
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing was created
    assert not (tmp_path / "qasid.db").exists()

    made = qasid(elsewhere, "admin", "unit", "create", "--code", "MOF", "--name", "Finance", "--init")
    assert made.returncode == 0, made.stderr
    assert f"qasid: data folder {elsewhere / 'qasid-data'} (new)" in made.stderr
    listed = qasid(elsewhere, "admin", "unit", "list")
    assert f"qasid: data folder {elsewhere / 'qasid-data'}\n" in listed.stderr and "MOF" in listed.stdout


def test_a_named_configuration_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    line = one_error_line(qasid(tmp_path, "--config", str(missing), "admin", "unit", "list", "--init"))
    assert line == f"error: configuration file {missing} does not exist"
    started = qasid(tmp_path, "serve", env={"QASID_CONFIG": str(missing), "QASID_BIND_PORT": str(free_port())})
    assert one_error_line(started) == f"error: configuration file {missing} does not exist"
    assert not (tmp_path / "qasid-data").exists()


def test_the_server_name_is_tied_to_the_data(tmp_path: Path) -> None:
    made = qasid(tmp_path, "admin", "create-user", "--init", "--username", "ops", "--password", PASSWORD)
    assert made.returncode == 0 and made.stdout.strip() == "@ops:localhost", made.stderr
    env = {"QASID_SERVER_NAME": "gov.example"}
    line = one_error_line(qasid(tmp_path, "admin", "create-user", "--username", "two", "--password", PASSWORD, env=env))
    assert "belongs to server 'localhost', but server_name is 'gov.example'" in line
    port = str(free_port())
    served = qasid(tmp_path, "serve", env={**env, "QASID_BIND_PORT": port})
    assert "belongs to server 'localhost'" in one_error_line(served)
    again = qasid(tmp_path, "admin", "create-user", "--username", "two", "--password", PASSWORD)
    assert again.stdout.strip() == "@two:localhost"  # nothing of gov.example's was written


def test_bad_settings_stop_the_server_with_one_line(tmp_path: Path) -> None:
    port = str(free_port())
    for env, expected in (({"QASID_RATE_LIMITS_ENABLED": "ture"}, "'ture' is not a boolean"),
                          ({"QASID_BIND_PORT": "abc"}, "bind_port (from environment variable QASID_BIND_PORT)"),
                          ({"QASID_SERVERNAME": "gov.example"}, "did you mean QASID_SERVER_NAME?")):
        line = one_error_line(qasid(tmp_path, "serve", env={"QASID_BIND_PORT": port, **env}))
        assert expected in line, line
    (tmp_path / "qasid.toml").write_text('rate_login = "fast"\n')
    assert "rate_login (from " in one_error_line(qasid(tmp_path, "serve"))


def test_cli_failures_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    assert qasid(tmp_path, "admin", "create-user", "--init", "--username", "ops", "--password", PASSWORD).returncode == 0
    cases = [
        (("admin", "create-user", "--username", "ops", "--password", PASSWORD), "M_USER_IN_USE"),
        (("admin", "create-user", "--username", "short", "--password", "x"), "error: M_"),
        (("admin", "official", "import", str(tmp_path / "missing.csv")), "No such file or directory"),
        (("admin", "token", "create", "--uses", "0"), "--uses must be at least 1"),
        (("admin", "token", "create", "--uses", "-3"), "--uses must be at least 1"),
        (("admin", "enroll", "create", "--unit", "NOPE"), "Unknown unit 'NOPE'"),
        (("admin", "audit", "list", "--unit", "NOPE"), "Unknown unit 'NOPE'"),
        (("admin", "official", "show", "aisha"), "did you mean @aisha:localhost?"),
        (("admin", "official", "offboard", "@ops:localhost"), "pass --yes"),
    ]
    for args, expected in cases:
        assert expected in one_error_line(qasid(tmp_path, *args)), args
    assert qasid(tmp_path, "admin", "create-user", "--username", "ops2", "--password", PASSWORD).returncode == 0


def test_a_misspelled_flag_prints_the_commands_own_usage(tmp_path: Path) -> None:
    result = qasid(tmp_path, "admin", "official", "list", "--unt", "MOF")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: qasid admin official list")
    assert "qasid admin official list: error: unrecognized arguments: --unt" in result.stderr


def test_policy_keys_lists_types_order_and_defaults(tmp_path: Path) -> None:
    assert "policy keys" in qasid(tmp_path, "admin", "policy", "--help").stdout
    assert qasid(tmp_path, "admin", "unit", "list", "--init").returncode == 0
    table = qasid(tmp_path, "admin", "policy", "keys").stdout.splitlines()
    assert table[0].split() == ["key", "type", "stricter", "default"]
    row = next(line for line in table if line.startswith("invite_scope"))
    assert "unit < ministry < anyone" in row and row.endswith("anyone")


def test_data_from_before_the_name_was_recorded_takes_it_from_its_first_account(tmp_path: Path) -> None:
    import sqlite3
    from importlib import resources

    # A database as the last version before migration 005 left it: schema 4, one account.
    data = tmp_path / "qasid-data"
    data.mkdir()
    folder = resources.files("qasid.store.sqlite") / "migrations"
    with sqlite3.connect(data / "qasid.db") as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, name in enumerate(("001_init.sql", "002_to_device_stream.sql", "003_gov.sql", "004_audit.sql"), 1):
            conn.executescript((folder / name).read_text(encoding="utf-8"))
            conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
        conn.execute("INSERT INTO users (user_id, created_ts) VALUES ('@ops:localhost', 0)")
    for path, mode in ((data, 0o700), (data / "qasid.db", 0o600)):
        path.chmod(mode)  # as qasid keeps them, so the only line printed is the error
    line = one_error_line(qasid(tmp_path, "admin", "unit", "list", env={"QASID_SERVER_NAME": "gov.example"}))
    assert "belongs to server 'localhost'" in line
