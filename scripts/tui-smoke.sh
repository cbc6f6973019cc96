#!/usr/bin/env bash
# A real terminal now and then: runs the `az-os` dashboard in tmux (120×40)
# against a tiny fake OpenAI-compatible server. First a first run on an empty
# home: the setup dialog opens by itself, adds the server (a wrong key refused
# first, the right one kept in a vault created on the way), and a task typed
# next runs on it, no restart; the key never reaches the terminal's scrollback
# or a file in clear. Then with a configured home: types a task, waits for it
# to complete, quits with Ctrl-C twice and checks that the process exited 0 and
# left the terminal as it found it (main screen, cooked mode, no mouse
# tracking); then the same after SIGTERM, and with --no-alt-screen that the
# prompt comes below the inline frame after Esc q. Prints PASS or FAIL; exits
# non-zero on failure.
#
# Usage: scripts/tui-smoke.sh [path/to/az-os]   (default: build the debug binary)
#        SMOKE_SHOW=1 prints the screen once the task has completed.
# Needs: bash, tmux, python3 (stdlib only).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/az-os/target}"
BIN="${1:-}"
if [[ -z "$BIN" ]]; then
    cargo build --quiet --bin az-os
    BIN="$CARGO_TARGET_DIR/debug/az-os"
fi
BIN="$(realpath "$BIN")"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/az-os-smoke.XXXXXX")"
SOCK="$TMP/tmux.sock"       # a private tmux server: never touches the user's sessions
SESSION="azsmoke"
SERVER_PID=""
TMUX_CMD=(tmux -S "$SOCK")

cleanup() {
    "${TMUX_CMD[@]}" kill-server 2>/dev/null || true
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    # az-os may still be closing its database after tmux hung it up.
    rm -rf "$TMP" 2>/dev/null || { sleep 0.5; rm -rf "$TMP"; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    if [[ -f "$TMP/screen.txt" ]]; then
        echo "--- last screen ---"
        cat "$TMP/screen.txt"
        echo "-------------------"
    fi
    if [[ -f "$TMP/home/logs/az-os.log" ]]; then
        echo "--- az-os.log (tail) ---"
        tail -n 20 "$TMP/home/logs/az-os.log"
    fi
    exit 1
}

# ---------------------------------------------------------------- fake provider
cat >"$TMP/server.py" <<'PY'
"""A fake OpenAI-compatible server: the first turn of a conversation gets a tool
call (execute_command "echo smoke"), any later turn the final text. Replies are
plain JSON even when a stream was asked for (az-os accepts both). A key starting
`sk-wrong` gets OpenAI's 401."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("fake: " + fmt % args + "\n")

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def refused(self):
        if "sk-wrong" not in self.headers.get("Authorization", ""):
            return False
        self.reply(401, {"error": {"message": "Incorrect API key provided: sk-w***.",
                                   "type": "invalid_request_error", "code": "invalid_api_key"}})
        return True

    def do_GET(self):
        if self.refused():
            return
        if self.path.rstrip("/").endswith("/models"):
            self.reply(200, {"object": "list", "data": [{"id": "smoke-model", "object": "model"}]})
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            req = {}
        if self.refused():
            return
        if not self.path.endswith("/chat/completions"):
            self.reply(404, {"error": {"message": "not found"}})
            return
        answered = any(m.get("role") == "tool" for m in req.get("messages", []))
        if answered:
            message = {"role": "assistant", "content": "smoke test passed"}
            finish = "stop"
        else:
            call = {"id": "call_1", "type": "function",
                    "function": {"name": "execute_command", "arguments": json.dumps({"command": "echo smoke"})}}
            message = {"role": "assistant", "content": "Running echo.", "tool_calls": [call]}
            finish = "tool_calls"
        self.reply(200, {
            "id": "chatcmpl-smoke", "object": "chat.completion", "model": req.get("model", "smoke-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520},
        })


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY

python3 "$TMP/server.py" "$TMP/port" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 50); do
    [[ -s "$TMP/port" ]] && break
    sleep 0.1
done
[[ -s "$TMP/port" ]] || fail "the fake server did not start: $(cat "$TMP/server.log")"
PORT="$(cat "$TMP/port")"

# ---------------------------------------------------------------- home and config
mkdir -p "$TMP/home" "$TMP/work"
cat >"$TMP/home/config.toml" <<EOF
[[models]]
name = "smoke"
provider = "openai"
model = "smoke-model"
base_url = "http://127.0.0.1:$PORT/v1"
api_key_env = "AZ_SMOKE_KEY"
tier = "complex"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
EOF

# ---------------------------------------------------------------- the dashboard in tmux
capture() {
    "${TMUX_CMD[@]}" capture-pane -p -t "$SESSION" >"$TMP/screen.txt" 2>/dev/null || true
}

# Polls the screen until it matches every regex given, for up to $1 seconds.
wait_for() {
    local secs="$1"
    shift
    local deadline=$((SECONDS + secs))
    while ((SECONDS <= deadline)); do
        capture
        local ok=1
        for re in "$@"; do
            grep -Eq -- "$re" "$TMP/screen.txt" || ok=0
        done
        ((ok)) && return 0
        sleep 0.2
    done
    return 1
}

# A clean shell in the pane, so we can see what is left after az-os exits.
"${TMUX_CMD[@]}" -f /dev/null new-session -d -s "$SESSION" -x 120 -y 40 \
    "env -i HOME='$TMP' PATH='$PATH' TERM=xterm-256color LANG=C.UTF-8 \
     AZ_OS_HOME='$TMP/home' AZ_SMOKE_KEY=sk-smoke PS1='smoke\$ ' bash --norc --noprofile"
wait_for 5 'smoke\$' || fail "the shell in tmux did not start"

# ---------------------------------------------------------------- first run: the setup dialog
KEY="sk-smoke-first-run-0123456789"
PASSWORD="smoke master password"
keys() { "${TMUX_CMD[@]}" send-keys -t "$SESSION" "$@"; }
keys "cd '$TMP/work' && AZ_OS_HOME='$TMP/fresh' '$BIN'; echo \"AZ_EXIT=\$?\"" Enter
wait_for 10 'What should az-os use' || fail "first run: the setup dialog did not open by itself"
keys Up Enter # from the top, up is the last row: a server of one's own
wait_for 5 'Server URL' || fail "first run: no server step"
keys -l "http://127.0.0.1:$PORT/v1"
keys Tab
keys -l "smoke-model"
keys Enter
wait_for 5 'Paste the key' || fail "first run: no key step"
keys -l "sk-wrong-smoke-0123456789"
keys Enter
wait_for 15 'did not take the key' || fail "first run: a wrong key was not refused"
keys -l "$KEY"
keys Enter
wait_for 15 'Where should the key live' || fail "first run: the right key was not taken"
keys v
wait_for 5 'Create the vault at' || fail "first run: no password step for a new vault"
keys -l "$PASSWORD"
keys Enter
keys -l "$PASSWORD"
keys Enter
wait_for 15 'smoke-model is ready' 'vault:openai-compatible' || fail "first run: not saved"
keys Enter
wait_for 10 'models ready: smoke-model' || fail "first run: the engine did not take the model"
keys -l "print smoke with echo"
keys Enter
wait_for 20 '▸ smoke test passed' || fail "first run: the task did not complete on the new model"
keys C-c
wait_for 5 'Press Ctrl-C again to quit' || fail "first run: the first Ctrl-C did not arm"
keys C-c
wait_for 10 'AZ_EXIT=[0-9]+' || fail "first run: az-os did not exit"
grep -q 'AZ_EXIT=0' "$TMP/screen.txt" || fail "first run: exited with $(grep -Eo 'AZ_EXIT=[0-9]+' "$TMP/screen.txt")"
grep -q 'api_key = "vault:openai-compatible"' "$TMP/fresh/config.toml" \
    || fail "first run: config.toml does not name the vault entry"
[[ -s "$TMP/fresh/vault.json" ]] || fail "first run: no vault was created"
if "${TMUX_CMD[@]}" capture-pane -p -S - -t "$SESSION" | grep -qe "$KEY" -e "$PASSWORD" -e "sk-wrong"; then
    fail "first run: a key or the password is in the terminal's scrollback"
fi
if grep -rqe "$KEY" -e "$PASSWORD" "$TMP/fresh"; then
    fail "first run: a key or the password is in a file in clear"
fi
keys "clear" Enter

# ---------------------------------------------------------------- a configured home
keys "cd '$TMP/work' && '$BIN'; echo \"AZ_EXIT=\$?\"" Enter
wait_for 10 'New task' 'Tasks 0' || fail "the dashboard did not appear"

"${TMUX_CMD[@]}" send-keys -t "$SESSION" -l "print smoke with echo"
wait_for 5 'print smoke with echo' || fail "typed text did not show in the input"
"${TMUX_CMD[@]}" send-keys -t "$SESSION" Enter

wait_for 20 '▸ smoke test passed' '• completed' 'Task [0-9a-f]{6} completed' '✓ [0-9a-f]{6}' \
    || fail "the task did not complete within 20 s"
grep -q 'execute_command echo smoke' "$TMP/screen.txt" || fail "the turns pane lacks the action"
if [[ -n "${SMOKE_SHOW:-}" ]]; then
    cat "$TMP/screen.txt"
fi

# Quit: the first Ctrl-C arms, the second (within 2 s) quits.
"${TMUX_CMD[@]}" send-keys -t "$SESSION" C-c
wait_for 5 'Press Ctrl-C again to quit' || fail "the first Ctrl-C did not arm"
"${TMUX_CMD[@]}" send-keys -t "$SESSION" C-c
wait_for 10 'AZ_EXIT=[0-9]+' || fail "az-os did not exit after Ctrl-C twice"
grep -q 'AZ_EXIT=0' "$TMP/screen.txt" || fail "az-os exited with $(grep -Eo 'AZ_EXIT=[0-9]+' "$TMP/screen.txt")"

# The terminal is restored: main screen, no mouse tracking, cooked mode with echo.
# The terminal is as az-os found it: main screen, no mouse tracking, a visible cursor,
# cooked mode (`$1` says after what).
check_terminal() {
    local modes
    modes="$("${TMUX_CMD[@]}" display-message -p -t "$SESSION" \
        '#{alternate_on} #{mouse_any_flag} #{mouse_button_flag} #{mouse_sgr_flag} #{cursor_flag}')"
    [[ "$modes" == "0 0 0 0 1" ]] \
        || fail "$1: terminal modes (alternate mouse_any mouse_button sgr cursor): $modes, want 0 0 0 0 1"
    "${TMUX_CMD[@]}" send-keys -t "$SESSION" "clear; stty -a | tr ' ' '\\n' | grep -Ex -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo STTY_\"\"DONE" Enter
    wait_for 5 '^[-a-z ]*STTY_DONE$' || fail "$1: the shell did not answer after az-os exited"
    local stty_line
    stty_line="$(grep -E '^[-a-z ]*STTY_DONE$' "$TMP/screen.txt" | tail -n 1)"
    for flag in isig icanon echo; do
        [[ " $stty_line " == *" $flag "* ]] || fail "$1: terminal left without $flag: $stty_line"
    done
}

if grep -q 'New task' "$TMP/screen.txt"; then
    fail "the dashboard is still on the screen after exit"
fi
check_terminal "Ctrl-C twice"

# SIGTERM (a service manager, `kill`) leaves the terminal as clean as a quit.
"${TMUX_CMD[@]}" send-keys -t "$SESSION" \
    "clear; sh -c 'echo \$\$ > \"$TMP/pid\"; exec \"$BIN\"'; echo \"AZ_EXIT=\$?\"" Enter
wait_for 10 'New task' || fail "the dashboard did not appear for the SIGTERM run"
kill -TERM "$(cat "$TMP/pid")"
wait_for 10 'AZ_EXIT=[0-9]+' || fail "az-os did not exit on SIGTERM"
grep -q 'AZ_EXIT=143' "$TMP/screen.txt" || fail "SIGTERM: exited with $(grep -Eo 'AZ_EXIT=[0-9]+' "$TMP/screen.txt")"
check_terminal "SIGTERM"

# --no-alt-screen with a full scrollback: after Esc q the prompt is below the frame.
"${TMUX_CMD[@]}" send-keys -t "$SESSION" \
    "clear; seq 1 60; '$BIN' --no-alt-screen; echo \"AZ_EXIT=\$?\"" Enter
wait_for 10 'New task' || fail "the inline dashboard did not appear"
"${TMUX_CMD[@]}" send-keys -t "$SESSION" Escape
sleep 0.3
"${TMUX_CMD[@]}" send-keys -t "$SESSION" q
wait_for 10 'AZ_EXIT=[0-9]+' || fail "az-os --no-alt-screen did not exit on Esc q"
exit_row="$(grep -n 'AZ_EXIT=' "$TMP/screen.txt" | tail -n 1 | cut -d: -f1)"
frame_row="$(grep -n 'today' "$TMP/screen.txt" | tail -n 1 | cut -d: -f1)"
[[ -n "$frame_row" && "$exit_row" -gt "$frame_row" ]] \
    || fail "--no-alt-screen: the prompt (row $exit_row) is not below the frame (status row $frame_row)"
grep -q 'AZ_EXIT=0' "$TMP/screen.txt" || fail "--no-alt-screen: exited with $(grep -Eo 'AZ_EXIT=[0-9]+' "$TMP/screen.txt")"
check_terminal "--no-alt-screen"

echo "PASS: a first run added a model in the setup dialog (a wrong key refused, the key in a new vault) and ran a task on it without a restart; the dashboard ran a task to completion, quit on Ctrl-C twice, on SIGTERM and inline on Esc q, restored the terminal each time"
