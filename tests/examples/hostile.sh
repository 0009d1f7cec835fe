#!/usr/bin/env bash
# A hostile or broken peer on the destination's socket: sizes are never
# trusted (an oversized control message or DEV_DATA_STATE chunk is refused
# before anything is read or allocated), unknown markers and garbage device
# data are refused, and the destination device keeps its previous state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

PY=$(command -v python3 || true)
if [ -z "$PY" ]; then
    ok "# SKIP hostile peers: python3 not found"
    exit 0
fi
"$VD" --descriptor --mem-size "$MEM" >"$T/desc.txt"

cat >"$T/peer.py" <<'PYEOF'
import socket, struct, sys
port, case, desc = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], 'rb').read()
HELLO, VERDICT = 0x564d5348494d4801, 0x564d5348494d5601
END, SETUP, DATA = 0xffffffffef100001, 0xffffffffef100003, 0xffffffffef100004
s = socket.create_connection(('127.0.0.1', port))
def msg(tag, body):
    s.sendall(struct.pack('>QQ', tag, len(body)) + body)
def recv_exact(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit('closed')
        b += c
    return b
def recv_msg():
    tag, n = struct.unpack('>QQ', recv_exact(16))
    return recv_exact(n)
if case == 'huge-hello':
    s.sendall(struct.pack('>QQ', HELLO, 1 << 40))
else:
    msg(HELLO, desc)
    recv_msg(); recv_msg()
    msg(VERDICT, b'ok: hostile peer')
    if case != 'no-setup':
        s.sendall(struct.pack('>QQ', SETUP, END))
    if case == 'huge-chunk':
        s.sendall(struct.pack('>QQ', DATA, 1 << 40))
    elif case == 'zero-chunk':
        s.sendall(struct.pack('>QQ', DATA, 0))
    elif case == 'bad-marker':
        s.sendall(struct.pack('>Q', 0xffffffffef100009))
    elif case == 'garbage':
        s.sendall(struct.pack('>QQ', DATA, 4096) + bytes(range(256)) * 16 + struct.pack('>Q', END))
        s.sendall(struct.pack('>QQ', 0xffffffffef100002, 1) + b'x' + struct.pack('>Q', END))
try:
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
except OSError:
    pass
PYEOF

hostile() { # CASE WANT_RC REASON_REGEX
    local name=$1 want=$2 why=$3
    start_dest "$name-dst"
    "$PY" "$T/peer.py" "$DEST_PORT" "$name" "$T/desc.txt" >"$T/$name-peer.log" 2>&1 || true
    wait_dest
    local d="$T/$name-dst.log"
    expect_rc "$name: destination" "$DEST_RC" "$want"
    grep -Eq -- "$why" "$d" || fail "$name: no line matching /$why/"
    if [ "$want" = 1 ]; then
        expect_line "$d" "^dest: previous state intact: yes" "$name: intact"
    fi
    ok "$name: refused ($(grep -Eo -- "$why" "$d" | head -n1))"
}

hostile huge-hello 2 'message of 1099511627776 bytes exceeds the [0-9]+-byte cap'
hostile no-setup 1 'source connection closed while waiting for DEV_SETUP_STATE'
hostile huge-chunk 1 'DEV_DATA_STATE chunk of 1099511627776 bytes \(accepted: 1\.\.1048576\)'
hostile zero-chunk 1 'DEV_DATA_STATE chunk of 0 bytes'
hostile bad-marker 1 'unknown marker 0xffffffffef100009'
hostile garbage 1 'VMS_E_BAD_MAGIC'
