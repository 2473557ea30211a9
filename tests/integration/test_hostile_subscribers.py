"""What one subscriber writes in their own file reaches only their own digest: their address
cannot make the relay deliver to anyone else.

The messages are received by a real SMTP server on loopback; `run` is a real subprocess.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration import faultkit as fk
from tests.integration.smtpserver import smtp_server

# Addresses of one "@" that smtplib reads as another: it takes the first address of a list
# (`a,b@x`), a group's member (`a:b;c@x`) or drops a comment (`a(b)c@x`) for RCPT TO, so
# `all-staff,eve@example.org` went to the relay's local `all-staff`, whoever that reaches.
ENVELOPE_TRICKS = {
    "eve": "all-staff,eve@example.org",
    "fay": "group:postmaster;fay@example.org",
    "gus": "root(x)@example.org",
    "hal": '"root"@example.org',
}


def test_an_address_cannot_reach_another_recipient(tmp_path: Path, sqlite_url: str) -> None:
    fk.write_dumps(tmp_path, [3])
    with smtp_server() as (handler, port):
        config = fk.config_dir(tmp_path, sqlite_url, ["ada", *ENVELOPE_TRICKS], smtp_port=port)
        for sid, address in ENVELOPE_TRICKS.items():
            path = config / "subscribers" / f"{sid}.toml"
            path.write_text(path.read_text(encoding="utf-8").replace(
                f'email = "{sid}@example.org"', f"email = '{address}'"), encoding="utf-8")
        result = fk.run(config, "run", "--now", fk.NOW)
    assert handler.envelopes == [("digest@example.org", ["ada@example.org"])]
    for sid in ENVELOPE_TRICKS:  # each a broken file, named with its key; ada's digest went
        assert f"{sid}.toml:2: email: expected an address like ada@example.org" in \
            result.stdout + result.stderr
