"""A fake Telegram behind a REAL TelegramClient, cut at the MTProto sender.

Only the socket and the encryption are replaced: `FakeSender` subclasses Telethon's MTProtoSender
and keeps its request queue, msg ids, `_process_message` dispatch, `_handle_rpc_result` (result
parsing, RPC error mapping, own-update capture) and `_handle_update`. Requests reach FakeTelegram
as bytes, are parsed back into TL objects (what a server would see and what tests assert on), and
answers travel back as serialised TL, so every object on both sides is real and schema-checked.
Pushed updates go through the client's own update loop (MessageBox pts/seq, gaps, getDifference)
and event dispatch, exactly as in production. 2FA runs a real SRP exchange with Telegram's prime.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import secrets
import struct
import traceback
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from telethon import TelegramClient, utils
from telethon.crypto import AuthKey
from telethon.extensions import BinaryReader
from telethon.network import MTProtoSender
from telethon.sessions import StringSession
from telethon.tl import TLRequest, functions, types
from telethon.tl.core import RpcResult, TLMessage

from engine.telegram.client import TelegramSettings, build_client

F, T = functions, types
SETTINGS = TelegramSettings(api_id=611335, api_hash="d524b414d21f4d37f08684c1df41ac9c")
TELEGRAM_PRIME = bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"
)
_VECTOR, _TRUE, _FALSE = 0x1CB5C415, 0x997275B5, 0xBC799737
_NO_AUTH = (F.help.GetConfigRequest, F.auth.SendCodeRequest, F.auth.SignInRequest, F.PingRequest)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def serialize(result) -> bytes:
    """A result as Telegram puts it on the wire (vectors and bools included)."""
    if isinstance(result, bool):
        return struct.pack("<I", _TRUE if result else _FALSE)
    if isinstance(result, list):
        return struct.pack("<Ii", _VECTOR, len(result)) + b"".join(bytes(x) for x in result)
    return bytes(result)


def wire(obj):
    """Round-trip a TL object through bytes: what the other side really receives."""
    with BinaryReader(bytes(obj)) as reader:
        return reader.tgread_object()


def _sha(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _n(x: int) -> bytes:
    return x.to_bytes(256, "big")


class Srp:
    """Server side of Telegram's SRP-2048 (core.telegram.org/api/srp), written from the spec
    rather than from Telethon, so the client half is checked against an independent server."""

    G = 3
    P = int.from_bytes(TELEGRAM_PRIME, "big")

    def __init__(self, password: str) -> None:
        self.salt1, self.salt2 = os.urandom(40), os.urandom(16)
        h1 = _sha(self.salt1, password.encode(), self.salt1)
        h2 = _sha(self.salt2, h1, self.salt2)
        h3 = hashlib.pbkdf2_hmac("sha512", h2, self.salt1, 100000)
        self.v = pow(self.G, int.from_bytes(_sha(self.salt2, h3, self.salt2), "big"), self.P)
        self.k = int.from_bytes(_sha(TELEGRAM_PRIME, _n(self.G)), "big")
        self.pending: dict[int, tuple[int, int]] = {}

    def algo(self):
        return T.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            self.salt1, self.salt2, self.G, TELEGRAM_PRIME
        )

    def challenge(self) -> T.account.Password:
        while True:
            b = int.from_bytes(os.urandom(256), "big") % self.P
            g_b = pow(self.G, b, self.P)
            big = 2048 - 64
            if (self.P - g_b).bit_length() >= big and g_b.bit_length() >= big:
                break
        B = (self.k * self.v + g_b) % self.P
        srp_id = secrets.randbits(62)
        self.pending[srp_id] = (b, B)
        return T.account.Password(
            new_algo=self.algo(),
            new_secure_algo=T.SecurePasswordKdfAlgoPBKDF2HMACSHA512iter100000(os.urandom(8)),
            secure_random=os.urandom(32),
            has_password=True,
            current_algo=self.algo(),
            srp_B=_n(B),
            srp_id=srp_id,
        )

    def verify(self, check: T.InputCheckPasswordSRP) -> bool:
        b, B = self.pending.pop(check.srp_id, (None, None))
        A = int.from_bytes(check.A, "big")
        if b is None or not 0 < A < self.P:
            return False
        u = int.from_bytes(_sha(_n(A), _n(B)), "big")
        S = pow(A * pow(self.v, u, self.P) % self.P, b, self.P)
        hp, hg = _sha(TELEGRAM_PRIME), _sha(_n(self.G))
        xored = bytes(x ^ y for x, y in zip(hp, hg, strict=True))
        m1 = _sha(xored, _sha(self.salt1), _sha(self.salt2), _n(A), _n(B), _sha(_n(S)))
        return secrets.compare_digest(m1, check.M1)


class FakeSender(MTProtoSender):
    """Telethon's sender minus the socket: the send queue is drained by FakeTelegram."""

    def __init__(self, server: FakeTelegram, client: TelegramClient) -> None:
        super().__init__(
            client.session.auth_key,
            loggers=client._log,
            retries=1,
            delay=0,
            auto_reconnect=False,
            auth_key_callback=client._auth_key_callback,
            updates_queue=client._updates_queue,
            auto_reconnect_callback=client._handle_auto_reconnect,
        )
        self.server = server

    async def _connect(self) -> None:
        if self.server.refuse_connections > 0:
            self.server.refuse_connections -= 1
            raise ConnectionError("fake Telegram refused the connection")
        if not self.auth_key:  # Telegram's DH exchange, abbreviated: the server mints the key
            self.auth_key.key = self.server.new_auth_key()
            saved = self._auth_key_callback(self.auth_key)  # a coroutine since Telethon 1.40
            if inspect.isawaitable(saved):
                await saved
        loop = asyncio.get_running_loop()
        self._send_loop_handle = loop.create_task(self._serve_loop())
        if self._disconnected.done():
            # Telethon 1.39 keeps this future in `_disconnected`; later releases behind a property
            if isinstance(getattr(type(self), "_disconnected", None), property):
                self._MTProtoSender__disconnected = loop.create_future()
            else:
                self._disconnected = loop.create_future()
        self.server.senders.add(self)

    def _transport_connected(self) -> bool:
        return self._user_connected and not self._reconnecting

    async def _disconnect(self, error=None) -> None:
        self.server.senders.discard(self)
        await super()._disconnect(error)

    async def _serve_loop(self) -> None:
        while self._user_connected:
            batch, _data = await self._send_queue.get()
            self._pending_ack.clear()
            for state in batch or []:
                if isinstance(state.request, TLRequest):
                    self._pending_state[state.msg_id] = state
                    await self.server.answer(self, state)

    async def deliver(self, obj) -> None:
        await self._process_message(TLMessage(self.server.next_msg_id(), 0, wire(obj)))


class FakeTelegram:
    """One account (`me`) on a tiny Telegram: users, chats, channels, codes, 2FA, pts/seq."""

    def __init__(
        self, *, me_id: int = 500100, phone: str = "447700900001", password: str | None = None
    ) -> None:
        self.me = T.User(
            id=me_id,
            is_self=True,
            access_hash=secrets.randbits(62),
            first_name="SysAlert",
            phone=phone,
        )
        self.code = "24680"
        self.srp = Srp(password) if password else None
        self.users: dict[int, T.User] = {}
        self.chats: dict[int, T.Chat | T.Channel] = {}
        self.usernames: dict[str, int] = {}
        self.phones: dict[str, int] = {}
        self.contacts: set[int] = set()
        self.blocked_by: set[int] = set()
        self.deactivated: set[int] = set()
        self.read_only: set[int] = set()
        self.keys: dict[bytes, int | str | None] = {}  # auth key -> user id, None, or a 401 error
        self.codes: dict[str, list] = {}  # phone_code_hash -> [phone, code, expired]
        self.password_pending: set[bytes] = set()
        self.pts, self.seq, self.channel_pts = 1, 1, {}
        self.msg_ids: dict[int, int] = {}  # per channel, 0 = the account's shared counter
        self.read_outbox: dict[int, int] = {}
        self.readers: dict[tuple[int, int], list[tuple[int, datetime]]] = {}
        self.reactions: dict[tuple[int, int], list] = {}
        self.sent: list[T.Message] = []
        self.requests: list = []
        self.unhandled: list[str] = []
        self.bugs: list[str] = []
        self.failures: list[list] = []
        self.log: list[tuple[int, object]] = []
        self.channel_log: dict[int, list[tuple[int, object]]] = {}  # for getChannelDifference
        self.senders: set[FakeSender] = set()
        self.refuse_connections = 0
        self._server_msg_id = 1

    # -- the world ---------------------------------------------------------------------------
    def add_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        phone: str | None = None,
        contact: bool = False,
        name: str = "Contact",
    ) -> T.User:
        user = T.User(
            id=user_id,
            access_hash=secrets.randbits(62),
            first_name=name,
            username=username,
            phone=phone,
            contact=contact,
        )
        self.users[user_id] = user
        if username:
            self.usernames[username.lower()] = user_id
        if phone:
            self.phones[phone] = user_id
        if contact:
            self.contacts.add(user_id)
        return user

    def add_chat(self, chat_id: int, title: str = "ops") -> T.Chat:
        chat = T.Chat(
            id=chat_id,
            title=title,
            photo=T.ChatPhotoEmpty(),
            participants_count=3,
            date=now(),
            version=1,
        )
        self.chats[chat_id] = chat
        return chat

    def add_channel(
        self, channel_id: int, title: str = "alerts", *, megagroup: bool = True
    ) -> T.Channel:
        channel = T.Channel(
            id=channel_id,
            title=title,
            photo=T.ChatPhotoEmpty(),
            date=now(),
            megagroup=megagroup,
            broadcast=not megagroup,
            access_hash=secrets.randbits(62),
        )
        self.chats[channel_id] = channel
        self.channel_pts[channel_id] = 1
        return channel

    def fail(self, request_cls: type, message: str, code: int = 400, times: int = 1) -> None:
        """Answer the next `times` requests of this class with an RPC error."""
        self.failures.append([request_cls, message, code, times])

    def authorized_session(self) -> str:
        """A StringSession whose auth key is logged in as `me` (what SysAlert stores)."""
        session = StringSession()
        session.set_dc(2, "127.0.0.1", 443)
        session.auth_key = AuthKey(self.new_auth_key(self.me.id))
        return session.save()

    def revoke_all(self, error: str = "AUTH_KEY_UNREGISTERED") -> None:
        for key in self.keys:
            self.keys[key] = error

    def new_auth_key(self, user_id: int | None = None) -> bytes:
        key = os.urandom(256)
        self.keys[key] = user_id
        return key

    def next_msg_id(self) -> int:
        self._server_msg_id += 2
        return self._server_msg_id

    def all_users(self) -> list:
        return [self.me, *self.users.values()]

    def all_chats(self) -> list:
        return list(self.chats.values())

    def requests_of(self, cls: type) -> list:
        return [r for r in self.requests if isinstance(r, cls)]

    # -- pushes from "the other side" ----------------------------------------------------------
    def _alloc(self, channel_id: int | None = None) -> int:
        if channel_id is None:
            self.pts += 1
            return self.pts
        self.channel_pts[channel_id] += 1
        return self.channel_pts[channel_id]

    def _new_msg_id(self, channel_id: int | None = None) -> int:
        key = channel_id or 0
        self.msg_ids[key] = self.msg_ids.get(key, 0) + 1
        return self.msg_ids[key]

    def _log_update(self, u) -> None:
        """Keep a pts-carrying update for getDifference / getChannelDifference."""
        if isinstance(u, T.UpdateNewChannelMessage | T.UpdateEditChannelMessage):
            self.channel_log.setdefault(u.message.peer_id.channel_id, []).append((u.pts, u))
        elif getattr(u, "pts", None):
            self.log.append((u.pts, u))

    async def push(self, *updates, deliver: bool = True) -> T.Updates:
        """Send an Updates container to every connected client (deliver=False: a lost push)."""
        for u in updates:
            self._log_update(u)
        # Only a container that moves a pts takes a seq: Telethon 1.39 advances its seq only then
        # and would see a gap after an order-free one (read of a channel, reactions).
        sequenced = any(getattr(u, "pts", None) for u in updates)
        self.seq += 1 if sequenced else 0
        box = T.Updates(
            list(updates),
            self.all_users(),
            self.all_chats(),
            now(),
            self.seq if sequenced else 0,
        )
        if deliver:
            for sender in list(self.senders):
                await sender.deliver(box)
        return box

    async def incoming(
        self,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        chat_id: int | None = None,
        deliver: bool = True,
    ) -> T.Message:
        """A message from `user_id`, privately or in chat `chat_id` (a Chat or Channel id)."""
        chat = self.chats.get(chat_id) if chat_id is not None else None
        channel = chat.id if isinstance(chat, T.Channel) else None
        peer = (
            T.PeerUser(user_id)
            if chat is None
            else (T.PeerChannel(chat.id) if channel else T.PeerChat(chat.id))
        )
        msg = T.Message(
            id=self._new_msg_id(channel),
            peer_id=peer,
            date=now(),
            message=text,
            out=False,
            from_id=None if chat is None else T.PeerUser(user_id),
            reply_to=T.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        )
        if channel:
            await self.push(
                T.UpdateNewChannelMessage(msg, self._alloc(channel), 1), deliver=deliver
            )
        else:
            await self.push(T.UpdateNewMessage(msg, self._alloc(), 1), deliver=deliver)
        return msg

    async def read(self, chat_id: int, max_id: int, *, deliver: bool = True):
        """The other side reads our messages up to max_id (chat_id is the marked id); returns the
        update pushed: UpdateReadChannelOutbox for channels, UpdateReadHistoryOutbox otherwise."""
        self.read_outbox[chat_id] = max(max_id, self.read_outbox.get(chat_id, 0))
        pid, cls = utils.resolve_id(chat_id)
        if cls is T.PeerChannel:
            update = T.UpdateReadChannelOutbox(pid, max_id)
        else:
            update = T.UpdateReadHistoryOutbox(cls(pid), max_id, self._alloc(), 1)
        await self.push(update, deliver=deliver)
        return update

    async def react(self, user_id: int, chat_id: int, msg_id: int, emoticon: str) -> None:
        """`user_id` reacts to our message; Telegram resends the whole recent-reactions list."""
        recent = self.reactions.setdefault((chat_id, msg_id), [])
        recent.append(T.MessagePeerReaction(T.PeerUser(user_id), now(), T.ReactionEmoji(emoticon)))
        counts = [T.ReactionCount(r.reaction, 1) for r in recent]
        peer_id, cls = utils.resolve_id(chat_id)
        await self.push(
            T.UpdateMessageReactions(
                cls(peer_id), msg_id, T.MessageReactions(counts, recent_reactions=list(recent))
            )
        )

    # -- serving requests ----------------------------------------------------------------------
    async def answer(self, sender: FakeSender, state) -> None:
        with BinaryReader(state.data) as reader:
            request = reader.tgread_object()  # parse the bytes the client produced
        if isinstance(request, F.PingRequest):
            await sender._process_message(
                TLMessage(self.next_msg_id(), 0, T.Pong(state.msg_id, request.ping_id))
            )
            return
        while isinstance(
            request,
            F.InvokeWithLayerRequest | F.InitConnectionRequest | F.InvokeWithoutUpdatesRequest,
        ):
            request = request.query
        self.requests.append(request)
        try:
            result = self.handle(sender.auth_key.key, request)
        except Exception:
            self.bugs.append(traceback.format_exc())
            result = T.RpcError(400, "FAKE_SERVER_BUG")
        if isinstance(result, T.RpcError):
            rpc = RpcResult(state.msg_id, None, result)
        else:
            rpc = RpcResult(state.msg_id, serialize(result), None)
        await sender._process_message(TLMessage(self.next_msg_id(), 0, rpc))

    def handle(self, key: bytes, req):
        for failure in self.failures:
            if isinstance(req, failure[0]) and failure[3] > 0:
                failure[3] -= 1
                return T.RpcError(failure[2], failure[1])
        account = self.keys.get(key)
        if isinstance(account, str):
            return T.RpcError(401, account)
        pw_step = isinstance(req, F.account.GetPasswordRequest | F.auth.CheckPasswordRequest)
        if (
            account is None
            and not isinstance(req, _NO_AUTH)
            and not (pw_step and key in self.password_pending)
        ):
            return T.RpcError(401, "AUTH_KEY_UNREGISTERED")
        method = getattr(self, "on_" + type(req).__name__, None)
        if method is None:
            self.unhandled.append(type(req).__name__)
            return T.RpcError(400, "FAKE_UNHANDLED")
        return method(key, req)

    def _state(self) -> T.updates.State:
        return T.updates.State(self.pts, 0, now(), self.seq, 0)

    def on_GetConfigRequest(self, key, req):
        # connect() asks for a Config and ignores most of it: zero every required number.
        required = inspect.signature(T.Config.__init__).parameters.values()
        values = {p.name: 0 for p in required if p.default is p.empty and p.name != "self"}
        values.update(
            date=now(), expires=now() + timedelta(hours=1), test_mode=True, this_dc=2,
            dc_options=[T.DcOption(2, "127.0.0.1", 443)], dc_txt_domain_name="",
            me_url_prefix="https://t.me/", message_length_max=4096,
        )  # fmt: skip
        return T.Config(**values)

    def on_SendCodeRequest(self, key, req):
        if not req.phone_number.isdigit() or len(req.phone_number) < 7:
            return T.RpcError(400, "PHONE_NUMBER_INVALID")
        code_hash = secrets.token_hex(8)
        self.codes[code_hash] = [req.phone_number, self.code, False]
        return T.auth.SentCode(T.auth.SentCodeTypeApp(len(self.code)), code_hash)

    def expire_codes(self) -> None:
        for entry in self.codes.values():
            entry[2] = True

    def on_SignInRequest(self, key, req):
        entry = self.codes.get(req.phone_code_hash)
        if entry is None or entry[0] != req.phone_number:
            return T.RpcError(400, "PHONE_CODE_HASH_EMPTY")
        if entry[2]:
            return T.RpcError(400, "PHONE_CODE_EXPIRED")
        if req.phone_code != entry[1]:
            return T.RpcError(400, "PHONE_CODE_INVALID")
        if req.phone_number != self.me.phone:
            return T.auth.AuthorizationSignUpRequired()
        if self.srp is not None:
            self.password_pending.add(key)
            return T.RpcError(401, "SESSION_PASSWORD_NEEDED")
        self.keys[key] = self.me.id
        return T.auth.Authorization(user=self.me)

    def on_GetPasswordRequest(self, key, req):
        return self.srp.challenge()

    def on_CheckPasswordRequest(self, key, req):
        if not self.srp.verify(req.password):
            return T.RpcError(400, "PASSWORD_HASH_INVALID")
        self.password_pending.discard(key)
        self.keys[key] = self.me.id
        return T.auth.Authorization(user=self.me)

    def on_LogOutRequest(self, key, req):
        self.keys[key] = None
        return T.auth.LoggedOut()

    def on_GetUsersRequest(self, key, req):
        found = []
        for item in req.id:
            if isinstance(item, T.InputUserSelf) or getattr(item, "user_id", None) == self.me.id:
                found.append(self.me)
            elif (user := self.users.get(item.user_id)) and (
                item.access_hash == user.access_hash
                or (item.access_hash == 0 and user.id in self.contacts)
            ):
                found.append(user)
        return found

    def on_GetStateRequest(self, key, req):
        return self._state()

    def on_GetDifferenceRequest(self, key, req):
        if req.pts >= self.pts:
            return T.updates.DifferenceEmpty(now(), self.seq)
        missed = [u for pts, u in self.log if pts > req.pts]
        return T.updates.Difference(
            new_messages=[u.message for u in missed if isinstance(u, T.UpdateNewMessage)],
            new_encrypted_messages=[],
            other_updates=[u for u in missed if not isinstance(u, T.UpdateNewMessage)],
            chats=self.all_chats(),
            users=self.all_users(),
            state=self._state(),
        )

    def on_GetChannelDifferenceRequest(self, key, req):
        """Telethon 1.39 asks this for a channel it has no state of yet (1.40+ does not)."""
        cid = req.channel.channel_id
        if cid not in self.channel_pts:
            return T.RpcError(400, "CHANNEL_INVALID")
        missed = [u for pts, u in self.channel_log.get(cid, []) if pts > req.pts]
        if not missed:
            return T.updates.ChannelDifferenceEmpty(pts=self.channel_pts[cid], final=True)
        return T.updates.ChannelDifference(
            pts=self.channel_pts[cid],
            new_messages=[u.message for u in missed if isinstance(u, T.UpdateNewChannelMessage)],
            other_updates=[u for u in missed if not isinstance(u, T.UpdateNewChannelMessage)],
            chats=self.all_chats(),
            users=self.all_users(),
            final=True,
        )

    def on_ResolveUsernameRequest(self, key, req):
        if not req.username.replace("_", "").isalnum():
            return T.RpcError(400, "USERNAME_INVALID")
        uid = self.usernames.get(req.username.lower())
        if uid is None:
            return T.RpcError(400, "USERNAME_NOT_OCCUPIED")
        return T.contacts.ResolvedPeer(T.PeerUser(uid), [], [self.users[uid]])

    def on_GetContactsRequest(self, key, req):
        return T.contacts.Contacts(
            [T.Contact(u, False) for u in sorted(self.contacts)],
            0,
            [self.users[u] for u in sorted(self.contacts)],
        )

    def on_ImportContactsRequest(self, key, req):
        imported, users = [], []
        for c in req.contacts:
            uid = self.phones.get("".join(ch for ch in c.phone if ch.isdigit()))
            if uid is not None:
                self.contacts.add(uid)
                imported.append(T.ImportedContact(uid, c.client_id))
                users.append(self.users[uid])
        return T.contacts.ImportedContacts(imported, [], [], users)

    def on_GetChannelsRequest(self, key, req):
        out = []
        for item in req.id:
            ch = self.chats.get(item.channel_id)
            if not isinstance(ch, T.Channel) or item.access_hash != ch.access_hash:
                return T.RpcError(400, "CHANNEL_INVALID")
            out.append(ch)
        return T.messages.Chats(out)

    def _peer(self, p):
        """InputPeer -> (Peer, marked id) or an RpcError, checking access hashes like Telegram."""
        if isinstance(p, T.InputPeerSelf):
            return T.PeerUser(self.me.id), self.me.id
        if isinstance(p, T.InputPeerUser):
            user = self.users.get(p.user_id) if p.user_id != self.me.id else self.me
            if user is None or user.access_hash != p.access_hash:
                return T.RpcError(400, "PEER_ID_INVALID")
            return T.PeerUser(p.user_id), p.user_id
        if isinstance(p, T.InputPeerChat) and isinstance(self.chats.get(p.chat_id), T.Chat):
            return T.PeerChat(p.chat_id), -p.chat_id
        if isinstance(p, T.InputPeerChannel):
            ch = self.chats.get(p.channel_id)
            if isinstance(ch, T.Channel) and ch.access_hash == p.access_hash:
                return T.PeerChannel(p.channel_id), utils.get_peer_id(T.PeerChannel(p.channel_id))
            return T.RpcError(400, "CHANNEL_INVALID")
        return T.RpcError(400, "PEER_ID_INVALID")

    def on_SendMessageRequest(self, key, req):
        found = self._peer(req.peer)
        if isinstance(found, T.RpcError):
            return found
        peer, marked = found
        if isinstance(peer, T.PeerUser) and peer.user_id in self.blocked_by:
            return T.RpcError(400, "USER_IS_BLOCKED")
        if isinstance(peer, T.PeerUser) and peer.user_id in self.deactivated:
            return T.RpcError(400, "INPUT_USER_DEACTIVATED")
        if marked in self.read_only:
            return T.RpcError(403, "CHAT_WRITE_FORBIDDEN")
        channel = peer.channel_id if isinstance(peer, T.PeerChannel) else None
        reply = getattr(req.reply_to, "reply_to_msg_id", None)
        msg = T.Message(
            id=self._new_msg_id(channel),
            peer_id=peer,
            date=now(),
            message=req.message,
            out=True,
            from_id=T.PeerUser(self.me.id),
            reply_to=T.MessageReplyHeader(reply_to_msg_id=reply) if reply else None,
        )
        self.sent.append(msg)
        if channel:
            new = T.UpdateNewChannelMessage(msg, self._alloc(channel), 1)
            self._log_update(new)
            return T.Updates(
                [T.UpdateMessageID(msg.id, req.random_id), new],
                [self.me],
                [self.chats[channel]],
                now(),
                0,
            )
        pts = self._alloc()
        self.log.append((pts, T.UpdateNewMessage(msg, pts, 1)))
        return T.UpdateShortSentMessage(msg.id, pts, 1, msg.date, out=True)

    def on_EditMessageRequest(self, key, req):
        found = self._peer(req.peer)
        if isinstance(found, T.RpcError):
            return found
        peer = found[0]
        msg = next((m for m in self.sent if m.peer_id == peer and m.id == req.id), None)
        if msg is None:
            return T.RpcError(400, "MESSAGE_ID_INVALID")
        msg.message, msg.edit_date = req.message, now()
        if isinstance(peer, T.PeerChannel):
            update = T.UpdateEditChannelMessage(msg, self._alloc(peer.channel_id), 1)
        else:
            update = T.UpdateEditMessage(msg, self._alloc(), 1)
        self._log_update(update)
        return T.Updates([update], self.all_users(), self.all_chats(), now(), 0)

    def on_GetPeerDialogsRequest(self, key, req):
        dialogs = []
        for item in req.peers:
            found = self._peer(item.peer)
            if isinstance(found, T.RpcError):
                return found
            peer, marked = found
            top = max((m.id for m in self.sent if m.peer_id == peer), default=0)
            counts = {
                name: 0
                for name in inspect.signature(T.Dialog).parameters
                if name.startswith("unread_") and name != "unread_mark"
            }  # the layer decides which counters a dialog has (1.39 lacks unread_poll_votes_count)
            dialogs.append(
                T.Dialog(
                    peer=peer,
                    top_message=top,
                    read_inbox_max_id=0,
                    read_outbox_max_id=self.read_outbox.get(marked, 0),
                    notify_settings=T.PeerNotifySettings(),
                    **counts,
                )
            )
        return T.messages.PeerDialogs(
            dialogs, [], self.all_chats(), self.all_users(), self._state()
        )

    def on_GetMessageReadParticipantsRequest(self, key, req):
        found = self._peer(req.peer)
        if isinstance(found, T.RpcError):
            return found
        if (found[1], req.msg_id) not in self.readers:
            return T.RpcError(400, "MSG_TOO_OLD")
        return [
            T.ReadParticipantDate(uid, when) for uid, when in self.readers[(found[1], req.msg_id)]
        ]


def install(client: TelegramClient, server: FakeTelegram) -> TelegramClient:
    """Swap the client's sender for one wired to `server`; everything else stays Telethon's."""
    client._sender = FakeSender(server, client)
    return client


def fake_client(
    server: FakeTelegram, session: str | None = None, settings: TelegramSettings = SETTINGS
) -> TelegramClient:
    """A client built by SysAlert's own build_client, talking to `server`."""
    return install(build_client(settings, session, environ={}), server)


@asynccontextmanager
async def connected(server: FakeTelegram, session: str | None = None):
    """A connected client, logged in as `me` unless session="" (a fresh, logged-out one)."""
    client = fake_client(
        server, server.authorized_session() if session is None else session or None
    )
    await client.connect()
    await settle(client)
    try:
        yield client
    finally:
        await client.disconnect()


async def settle(client: TelegramClient, timeout: float = 3.0) -> None:
    """Wait until the client is idle: no queued update, no gap or difference in flight, no
    request awaiting an answer, no handler task running (twice in a row, to be sure)."""
    loop = asyncio.get_running_loop()
    deadline, quiet = loop.time() + timeout, 0
    while quiet < 2:
        if loop.time() > deadline:
            raise AssertionError("the Telegram client did not settle")
        await asyncio.sleep(0.005)
        box, sender = client._message_box, client._sender
        idle = (
            client._updates_queue.empty()
            and not box.getting_diff_for
            and not box.possible_gaps
            and not client._event_handler_tasks
            and not sender._pending_state
            and not sender._send_queue._deque
        )
        quiet = quiet + 1 if idle else 0
