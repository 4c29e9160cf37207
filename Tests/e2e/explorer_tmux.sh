#!/usr/bin/env bash
# End-to-end test of the real explorer binary in tmux (issue "ncurses explorer"): types a prompt, switches image,
# changes layer and time step, plays, resizes to 60x20 and back, opens help, quits; then checks that the terminal was
# restored. Also Ctrl-C, SIGTERM and a burst of resizes. Prints "N passed, N failed" and exits non-zero on failure.
# Usage: Tests/e2e/explorer_tmux.sh [path/to/spikeclip]
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-.build/debug/spikeclip}"
CHECKPOINT="${E2E_CHECKPOINT:-Tests/Fixtures/tiny-default/model.safetensors}"
SESSION="spikeclip-e2e-$$"
SOCKET="spikeclip-e2e-$$"
passed=0; failed=0
# No user settings file: every start below sees only the config files this script writes (issue 18).
export XDG_CONFIG_HOME="$(mktemp -d)"
tm() { tmux -L "$SOCKET" "$@"; }
screen() { tm capture-pane -t "$SESSION" -p; }
check() {  # check NAME PATTERN: the screen must contain PATTERN (fixed string) within 10 s
    local name="$1" pattern="$2"
    for _ in $(seq 1 100); do
        if screen | grep -qF -- "$pattern"; then passed=$((passed + 1)); echo "ok   $name"; return 0; fi
        sleep 0.1
    done
    failed=$((failed + 1)); echo "FAIL $name: '$pattern' not on screen:"; screen | sed 's/^/     | /'
    return 1
}
absent() {  # absent NAME PATTERN: after a second, the screen does not contain PATTERN
    sleep 1
    if screen | grep -qF -- "$2"; then failed=$((failed + 1)); echo "FAIL $1: '$2' still on screen:"; screen | sed 's/^/     | /'
    else passed=$((passed + 1)); echo "ok   $1"; fi
}
restored() {  # after the explorer exits: the shell echoes again and the tty is back in canonical mode with echo
    tm send-keys -t "$SESSION" "stty -a | tr ' ;' '\n\n' | grep -cxE 'echo|icanon' | sed 's/^/modes=/'" Enter
    check "$1: terminal restored (echo, icanon)" "modes=2"
}
aligned() {  # every row of the compact layout takes 80 columns and ends in the panel's right border
    local bad
    bad=$(screen | "${PY:-python3}" -c '
import ctypes, locale, sys
locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
libc = ctypes.CDLL("libc.so.6")
for i, line in enumerate(sys.stdin.read().split("\n")[1:23]):
    width = libc.wcswidth(ctypes.c_wchar_p(line), len(line))
    if width != 80 or line[-1] not in "│|┐┘+":
        print(f"row {i + 1}: {width} columns: {line}")')
    if [ -z "$bad" ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1:"; echo "$bad" | sed 's/^/     | /'; fi
}
start() {
    tm send-keys -t "$SESSION" "clear; LANG=C.UTF-8 $BIN --checkpoint $CHECKPOINT $*; echo exit=\$?" Enter
}

[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
tm new-session -d -s "$SESSION" -x 80 -y 24 "bash --norc --noprofile"
tm set-option -t "$SESSION" status off >/dev/null
trap 'tm kill-server 2>/dev/null' EXIT

start
check "opens on prompts" "[1 Prompts]"
check "status shows the SNN top-1" "SNN: "
tm send-keys -t "$SESSION" a; tm send-keys -t "$SESSION" -l "5 6 7"
check "typing shows the edit line and token counter" "edit> 5 6 7_"
tm send-keys -t "$SESSION" Enter
check "the new prompt is listed and selected" "> 5 6 7 "
tm send-keys -t "$SESSION" a; tm send-keys -t "$SESSION" -l "東京タワー 👨‍👩‍👧 café"; tm send-keys -t "$SESSION" Enter
check "a CJK prompt is drawn as typed" "> 東京タワー 👨"
aligned "wide characters keep the borders aligned"
tm send-keys -t "$SESSION" d  # the fixture takes token ids: remove the text prompt again
tm send-keys -t "$SESSION" Tab
check "Tab focuses the image panel" "[2 Image]"
tm send-keys -t "$SESSION" n
check "n switches the image" "ankle-boot_0023.png"
tm send-keys -t "$SESSION" 3 ] ]
check "] changes the layer" "3/13 vision.patch_embed.block3_lif"
tm send-keys -t "$SESSION" .
check ". changes the time step" "step 2/4 (paused)"
tm send-keys -t "$SESSION" Space
check "space plays" "(playing)"
tm send-keys -t "$SESSION" Space
tm send-keys -t "$SESSION" ] ] ] ] ] ] ] ] ] ] n
check "n picks the prompt a text layer shows" "prompt 2/4 (n/N)"
# Interventions (issue 17): silence a layer from the Spikes panel, see the deltas, remove it, see them go.
tm send-keys -t "$SESSION" '[' '[' '[' '[' '[' '[' '['
check "[ goes back to the first q layer" "6/13 vision.block.0.attn.q_lif"
tm send-keys -t "$SESSION" x
check "x in Spikes silences the layer" "added: silence vision.block.0.attn.q_lif"
check "the silenced layer shows its unmodified rate" "rate 0.0% (unmodified"
tm send-keys -t "$SESSION" 4
check "ANN vs SNN shows the change" "intervened SNN vs unmodified"
tm send-keys -t "$SESSION" 5
check "Energy shows the change" "vs unmodified"
tm send-keys -t "$SESSION" 7 d
check "d removes the intervention" "0 on of 0"
tm send-keys -t "$SESSION" 4
absent "the deltas are gone without interventions" "intervened SNN vs unmodified"
tm send-keys -t "$SESSION" 3
tm resize-window -t "$SESSION" -x 60 -y 20
check "resize to 60x20 keeps working" "[3 Spikes]"
tm resize-window -t "$SESSION" -x 40 -y 10
check "below the minimum: too-small screen" "current 40x10"
tm resize-window -t "$SESSION" -x 80 -y 24
check "resize back to 80x24" "[3 Spikes] 4  5  6  7"
tm send-keys -t "$SESSION" '?'
check "? opens help" "z zoom: the focused panel alone"
tm send-keys -t "$SESSION" j j j j j j j j
check "j scrolls the help to its end" "Letters work everywhere"
tm send-keys -t "$SESSION" x
tm send-keys -t "$SESSION" q
check "q quits with status 0" "exit=0"
restored "after q"

start
check "second start" "[1 Prompts]"
for size in 70x20 100x30 61x17 120x40 55x15 90x28 80x24; do tm resize-window -t "$SESSION" -x "${size%x*}" -y "${size#*x}"; done
check "survives a resize burst" "[1 Prompts]"
tm send-keys -t "$SESSION" C-c
check "Ctrl-C quits" "exit=0"
restored "after Ctrl-C"

start
check "third start" "[1 Prompts]"
pid=$(pgrep -n -f "$BIN --checkpoint")
kill -TERM "$pid"
check "SIGTERM quits" "exit=0"
restored "after SIGTERM"

# Terminals without an alternate screen: nothing the explorer drew stays on the screen after q.
for term in vt100 linux; do
    tm send-keys -t "$SESSION" "clear; TERM=$term LANG=C.UTF-8 $BIN --checkpoint $CHECKPOINT; echo exit=\$?" Enter
    check "TERM=$term starts" "?:help"
    tm send-keys -t "$SESSION" q
    check "TERM=$term quits" "exit=0"
    if screen | grep -qE 'help|Prompts|SNN:'; then
        failed=$((failed + 1)); echo "FAIL TERM=$term: the explorer's frame stays after q:"; screen | sed 's/^/     | /'
    else
        passed=$((passed + 1)); echo "ok   TERM=$term: the screen is cleared after q"
    fi
done

tm send-keys -t "$SESSION" "clear; TERM=dumb $BIN --checkpoint $CHECKPOINT; echo exit=\$?" Enter
check "TERM=dumb gives a clear message" "use \`spikeclip snapshot\`"
check "TERM=dumb exits with 1" "exit=1"

# Quitting while an analysis runs (regression: OpenBLAS's exit handler waited forever for the worker's sgemm).
# The trained default's first analysis (MiniLM over every prompt) takes long enough to press q during it.
if [ -f assets/checkpoints/default.safetensors ]; then
    tm send-keys -t "$SESSION" "clear; LANG=C.UTF-8 $BIN; echo exit=\$?" Enter
    check "trained default starts computing" "computing..."
    tm send-keys -t "$SESSION" q
    check "q while computing exits" "exit=0"
    restored "after q while computing"
    # The lesion view on the trained default (issue 17): every layer silenced alone, in the background.
    tm send-keys -t "$SESSION" "clear; LANG=C.UTF-8 $BIN; echo exit=\$?" Enter
    check "trained default starts" "[1 Prompts]"
    check "first analysis done" "SNN: Ankle boot"
    tm send-keys -t "$SESSION" 7 L
    check "the lesion view completes on the default (13 layers, 4 heads)" "lesion 17 done"
    check "the lesion view lists the layers" "vision.block.0.attn.q_lif"
    tm send-keys -t "$SESSION" q
    check "q after the lesion view exits" "exit=0"
fi

# Issue 18: a config file (light theme, mouse on, remap w -> Tab), mouse clicks and the wheel, presenter mode,
# / search, recording the session and replaying it, --plain.
CFG="$(mktemp -d)"; REC="$CFG/session.jsonl"; mkdir -p "$CFG/spikeclip"
printf 'theme = "light"\nmouse = true\n[keys]\nw = "tab"\n' > "$CFG/spikeclip/config.toml"
click() {  # click X Y [BUTTON]: an X10 mouse report (button 0 press, 64 wheel up, 65 wheel down), then the release
    local b="${3:-0}"
    tm send-keys -t "$SESSION" -l "$(printf '\033[M%b%b%b' "\\$(printf '%03o' $((32 + b)))" "\\$(printf '%03o' $((33 + $1)))" "\\$(printf '%03o' $((33 + $2)))")"
    [ "$b" -ge 64 ] || tm send-keys -t "$SESSION" -l "$(printf '\033[M#%b%b' "\\$(printf '%03o' $((33 + $1)))" "\\$(printf '%03o' $((33 + $2)))")"
}
column_of() { screen | head -1 | "${PY:-python3}" -c 'import sys; print(sys.stdin.read().index(sys.argv[1]))' "$1"; }
tm send-keys -t "$SESSION" "clear; XDG_CONFIG_HOME=$CFG LANG=C.UTF-8 $BIN --checkpoint $CHECKPOINT --record $REC; echo exit=\$?" Enter
check "config: starts with the settings file" "[1 Prompts]"
if tm capture-pane -t "$SESSION" -p -e | grep -qE '\[(([0-9]+;)*)(47|107|48;5;15)m'; then
    passed=$((passed + 1)); echo "ok   config: the light theme paints a white background"
else
    failed=$((failed + 1)); echo "FAIL config: no white background in the light theme:"; tm capture-pane -t "$SESSION" -p -e | head -3 | cat -v | sed 's/^/     | /'
fi
tm send-keys -t "$SESSION" w
check "config: the remap w acts as Tab" "[2 Image]"
click "$(column_of ' 4 ')" 0
check "mouse: a click on tab 4 focuses ANN vs SNN" "[4 ANN vs SNN]"
click "$(column_of ' 1 ')" 0
check "mouse: a click on tab 1 focuses Prompts" "[1 Prompts]"
click 10 5
check "mouse: a click on the third row selects it" "Class prompts 3/"
click 10 8 64
check "mouse: the wheel scrolls the list up" "Class prompts 2/"
click 10 8 65
check "mouse: and down" "Class prompts 3/"
tm send-keys -t "$SESSION" 3 Z
check "presenter: Z shows the panel explained" "What this shows"
check "presenter: the large title" "S P I K E S"
tm send-keys -t "$SESSION" .
check "presenter: . steps t with a narration line" "t=2/4: "
tm send-keys -t "$SESSION" Z
absent "presenter: Z leaves it" "What this shows"
tm send-keys -t "$SESSION" / a t t n
check "search: typing finds layers" "/attn_"
tm send-keys -t "$SESSION" Enter
check "search: Enter keeps the first match" "match 1/"
tm send-keys -t "$SESSION" n
check "search: n steps to the next match" "match 2/"
tm send-keys -t "$SESSION" C
check "C writes a probe card" "wrote probe card spikeclip-card-"
card="$(screen | grep -o 'spikeclip-card-[0-9]*' | head -1)"
tm send-keys -t "$SESSION" q
check "q quits the recorded session" "exit=0"
if [ -n "$card" ] && [ -f "$card/card.json" ] && [ -f "$card/raster.png" ] && [ -f "$card/spatial.svg" ]; then
    passed=$((passed + 1)); echo "ok   the card folder holds card.json, raster.png, spatial.svg"
else
    failed=$((failed + 1)); echo "FAIL no complete card folder '$card'"
fi
[ -n "$card" ] && rm -rf "$card"
tm send-keys -t "$SESSION" "clear; $BIN replay $REC --quiet; echo exit=\$?" Enter
check "replay: every recorded frame is reproduced" "frames identical to the record"
check "replay: exits 0" "exit=0"
printf 'theme = "blue"\n' > "$CFG/spikeclip/config.toml"
tm send-keys -t "$SESSION" "clear; XDG_CONFIG_HOME=$CFG $BIN --checkpoint $CHECKPOINT; echo exit=\$?" Enter
check "a bad config file: one line naming the file and the key" "spikeclip/config.toml: theme: expected one of dark"
check "a bad config file: exit 1" "exit=1"
tm send-keys -t "$SESSION" "clear; XDG_CONFIG_HOME=$CFG LANG=C.UTF-8 $BIN --checkpoint $CHECKPOINT --no-config; echo exit=\$?" Enter
check "--no-config starts with the defaults" "[1 Prompts]"
tm send-keys -t "$SESSION" q
check "--no-config quits" "exit=0"
tm send-keys -t "$SESSION" "clear; printf '3]' | $BIN --plain --checkpoint $CHECKPOINT | tail -1; echo exit=\$?" Enter
check "--plain: one line per change" "[Spikes] | 2/13 vision.patch_embed.block2_lif"

# The terminal going away (SSH dropped, tmux killed): the explorer gets SIGHUP and must exit, not linger.
tm new-session -d -s hup -x 80 -y 24 "exec env LANG=C.UTF-8 $BIN --checkpoint $CHECKPOINT"
sleep 2
hup_pid=$(tm display-message -p -t hup '#{pane_pid}')
tm kill-session -t hup
for _ in $(seq 1 50); do kill -0 "$hup_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$hup_pid" 2>/dev/null; then
    failed=$((failed + 1)); echo "FAIL the explorer still runs 5 s after its terminal went away (pid $hup_pid)"; kill -9 "$hup_pid"
else
    passed=$((passed + 1)); echo "ok   the explorer exits when its terminal goes away"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
