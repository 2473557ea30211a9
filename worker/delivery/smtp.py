"""`email` over SMTP: one connection for the whole pass, reconnecting once if dropped.

Errors are sorted into temporary (a connection dropped, timeouts and 4xx while sending:
retried later, each an attempt) and permanent (5xx: the digest is marked failed with the
server's reply). A relay that cannot be reached at all (refused, its name not found, no
answer, TLS that fails), a refusal of the session (at its greeting, or of EHLO and HELO: a
5xx, or a 4xx such as 421 from a relay down for maintenance), of the login or of the sender
(a 5xx to MAIL FROM but 552, which refuses the message's size) is neither the message's nor
its recipient's fault: it says the relay or [smtp] is not right, and every digest would meet
it. The digests stay pending without an attempt counted (they go out once it is put right,
however long that takes), and it is met once a pass: the digests after it are not tried
against the server again.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.utils import parseaddr

from worker.delivery.base import Channel, Rendered
from worker.errors import DeliveryError
from worker.smtp_settings import SmtpSettings


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


class SmtpChannel(Channel):
    name = "email"

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.conn: smtplib.SMTP | None = None
        self.refused: DeliveryError | None = None  # the relay refused our login or sender

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP
        # The TLS context is made only for TLS: loading the CA certificates (~20 ms and 235
        # million instructions) is wasted on a plain relay (security = "none").
        if s.mode == "tls":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            # A password is never sent in the clear unless `security = "none"` says so: with
            # "auto" on another port than 465/587, a relay offering STARTTLS is asked for it
            # (certificate verified), and one offering none is not logged in to. (Before, the
            # password went out in plain text, STARTTLS offered or not.)
            guarded = bool(s.username) and s.security == "auto" and s.mode == "none"
            if guarded:
                conn.ehlo_or_helo_if_needed()
            if s.mode == "starttls" or (guarded and conn.has_extn("starttls")):
                conn.starttls(context=ssl.create_default_context())
            elif guarded:
                conn.close()
                raise self._held("offers no STARTTLS, so the login's password would go in "
                                 "plain text: not logged in (set [smtp] security = \"tls\" "
                                 "or \"starttls\" as the relay takes it, or \"none\" to "
                                 "send the password unencrypted)")
        if s.username:
            try:
                conn.login(s.username, s.password or "")
            except smtplib.SMTPResponseException as exc:
                conn.close()
                raise self._refusal("login", exc, "check [smtp] username and "
                                    "PAPER_DIGEST_SMTP_PASSWORD") from None
            except smtplib.SMTPException as exc:  # no AUTH offered, or none we can use
                conn.close()
                raise self._held(f"cannot take the login: {exc} (check [smtp] security: many "
                                 "relays offer AUTH only after STARTTLS)") from None
        return conn

    def _refusal(self, what: str, exc: smtplib.SMTPResponseException, hint: str,
                 ) -> DeliveryError:
        if exc.smtp_code == 530 and not self.settings.username:
            hint = "the server asks for a login: set [smtp] username and PAPER_DIGEST_SMTP_PASSWORD"
        return self._held(f"refused the {what}: {_reply(exc.smtp_code, exc.smtp_error)} "
                          f"({hint})")

    def _unreachable(self, exc: OSError) -> DeliveryError:
        """No connection to the relay at all (refused, its name not found, no answer in time,
        TLS that fails): no digest's fault, and every digest would meet it. Counted as an
        attempt of each, an hour's outage of the relay made every digest of it failed for
        good (`max_attempts`), not to go out again without `retry`."""
        if isinstance(exc, ssl.SSLError):
            return self._held(f"TLS failed: {exc} (check [smtp] security and port, and the "
                              "relay's certificate)")
        return self._held(f"cannot be reached: {exc or type(exc).__name__} (check [smtp] host "
                          "and port, and that the relay is up)")

    def _held(self, said: str) -> DeliveryError:
        """The relay will take nothing from us as [smtp] stands: every digest of the pass is
        held with this, and the server is not asked again (see the module docstring)."""
        self.refused = DeliveryError(f"SMTP {self.settings.host}:{self.settings.port} {said}",
                                     held=True)
        return self.refused

    def _deliver(self, rendered: Rendered) -> None:
        if self.conn is None:
            try:
                self.conn = self._connect()
            except OSError as exc:
                if isinstance(exc, smtplib.SMTPException):  # the relay's answers: sorted in send
                    raise
                raise self._unreachable(exc) from None
        sender = parseaddr(self.settings.sender)[1]
        # What send_message would send for the message these bytes are (the same bytes, the
        # To address as recipient). Addresses are ASCII: building the message refuses others.
        self.conn.sendmail(sender, list(rendered.email.recipients), rendered.email.data)

    def would(self, rendered: Rendered) -> str:
        return f"would send to {rendered.email.to} via {self.settings.host}:{self.settings.port}"

    def send(self, rendered: Rendered) -> str:
        to = rendered.email.to
        if self.refused is not None:
            raise self.refused
        try:
            try:
                self._deliver(rendered)
            except smtplib.SMTPServerDisconnected:
                # The server closed our reused connection (idle timeout): reconnect once. Not
                # once told to stop: a second wait for a relay that timed out doubled the time
                # a stopped run took (60 s at the default timeout, past docker stop's 10 s).
                self._drop()
                if self.stop():
                    raise
                self._deliver(rendered)
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as exc:
            # The relay refused the session itself (its greeting, or EHLO and HELO): nothing
            # of this digest was asked, and every other would meet the same. A 5xx there was
            # taken for this message's permanent refusal: each digest of the pass was failed
            # (and so not sent again without `retry`) for a relay that would not serve us.
            self._drop()
            if exc.smtp_code >= 500:
                raise self._refusal("session", exc, "check [smtp] host and port, and that the "
                                    "relay takes mail from this host") from None
            # A 4xx there (421 "Service not available": the relay down for maintenance) is the
            # relay's trouble for now, as one that cannot be reached is: counted as an attempt
            # of each digest, an hour of it made every digest failed for good (max_attempts).
            raise self._refusal("session", exc, "the relay takes no mail for now; the next "
                                "pass asks it again") from None
        except smtplib.SMTPSenderRefused as exc:
            self._reset()
            if exc.smtp_code < 500 or exc.smtp_code == 552:  # this message (its SIZE), or later
                raise DeliveryError(f"SMTP {_reply(exc.smtp_code, exc.smtp_error)}",
                                    permanent=exc.smtp_code >= 500) from None
            raise self._refusal("sender", exc, "check [smtp] from, and that the relay lets "
                                "this host send as it") from None
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, message = next(iter(exc.recipients.values()))
            raise DeliveryError(f"{to} refused: {_reply(code, message)}",
                                permanent=code >= 500) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise DeliveryError(f"SMTP {_reply(exc.smtp_code, exc.smtp_error)}",
                                permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            where = f"{self.settings.host}:{self.settings.port}"
            raise DeliveryError(f"SMTP {where}: {exc or type(exc).__name__}") from None
        return to

    def _reset(self) -> None:
        # After a refusal the session may be mid-transaction; RSET keeps the connection usable.
        try:
            if self.conn is not None:
                self.conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.quit()
            self._drop()
