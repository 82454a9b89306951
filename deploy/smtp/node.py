"""An SMTP server of the e-mail tests' own (aiosmtpd, installed by deploy/test.sh through
ensure_aiosmtpd in deploy/common.sh): listens on 127.0.0.1:PORT, accepts AUTH PLAIN/LOGIN for
USER with PASSWORD only and writes every message it accepts, as received, to DIR/<n>.eml.
Without CERT and KEY it speaks no TLS (loopback only); with them (PEM files) it requires
STARTTLS with that certificate before AUTH and mail.

    python deploy/smtp/node.py DIR PORT USER PASSWORD [CERT KEY]
"""
import asyncio
import itertools
import pathlib
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

folder, port, user, password = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
folder.mkdir(parents=True, exist_ok=True)
numbers = itertools.count(1)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode() == user and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


class Keep:
    async def handle_DATA(self, server, session, envelope):
        name = folder / f"{next(numbers)}.eml"
        partial = name.with_suffix(".part")
        partial.write_bytes(envelope.original_content)
        partial.rename(name)
        return "250 OK kept"


tls = {"auth_require_tls": False}
if len(sys.argv) > 6:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[5], sys.argv[6])
    tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}

controller = Controller(
    Keep(),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=True,
    **tls,
)
controller.start()
print(f"listening on 127.0.0.1:{port}", flush=True)
try:
    asyncio.new_event_loop().run_forever()
finally:
    controller.stop()
