#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cterminal.h"

static int active = 0;
static int colors = 0;
static volatile sig_atomic_t pending_signal = 0;

int ct_begin(int want_color) {
    if (active) return 0;
    setlocale(LC_ALL, "");
    const char *term = getenv("TERM");
    if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0) return -1;
    // newterm instead of initscr: initscr exits the process on failure, newterm returns NULL.
    SCREEN *s = newterm(NULL, stdout, stdin);
    if (s == NULL) return -1;
    set_term(s);
    active = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    set_escdelay(25);
    curs_set(0);
    colors = 0;
    if (want_color && has_colors()) {
        start_color();
        use_default_colors();
        colors = COLORS;
    }
    return 0;
}

void ct_end(void) {
    if (!active) return;
    // Without an alternate screen (TERM=vt100, linux, ...) endwin leaves the last frame on the terminal: wipe it.
    const char *smcup = tigetstr("smcup");
    if (smcup == NULL || smcup == (char *)-1 || smcup[0] == '\0') {
        clear();
        refresh();
    }
    curs_set(1);
    endwin();
    active = 0;
}

int ct_active(void) { return active; }
int ct_lines(void) { return active ? LINES : 0; }
int ct_cols(void) { return active ? COLS : 0; }
int ct_colors(void) { return colors; }
void ct_init_pair(short pair, short fg, short bg) { if (colors) init_pair(pair, fg, bg); }
void ct_erase(void) { if (active) erase(); }

void ct_put(int y, int x, const char *utf8, short pair, int style) {
    if (!active) return;
    attr_t attrs = A_NORMAL;
    if (style & CT_BOLD) attrs |= A_BOLD;
    if (style & CT_DIM) attrs |= A_DIM;
    if (style & CT_UNDERLINE) attrs |= A_UNDERLINE;
    if (style & CT_REVERSE) attrs |= A_REVERSE;
    attr_set(attrs, colors ? pair : 0, NULL);
    mvaddstr(y, x, utf8);
    attr_set(A_NORMAL, 0, NULL);
}

void ct_background(short pair) { if (active && colors) bkgdset(COLOR_PAIR(pair) | ' '); }

// Button 1 presses and the wheel (buttons 4 and 5) only; no motion reports (they would flood a slow link).
void ct_mouse(int on) {
    if (!active) return;
    mmask_t mask = on ? (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED) : 0;
    mousemask(mask, NULL);
    mouseinterval(0);
}

int ct_key_mouse(void) { return KEY_MOUSE; }

int ct_get_mouse(int *x, int *y) {
    MEVENT event;
    if (getmouse(&event) != OK) return 0;
    *x = event.x;
    *y = event.y;
    if (event.bstate & BUTTON4_PRESSED) return 4;
    if (event.bstate & BUTTON5_PRESSED) return 5;
    if (event.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)) return 1;
    return 0;
}

void ct_refresh(void) { if (active) refresh(); }

// The next refresh repaints every cell from scratch (curses' idea of the screen may be wrong, e.g. after a resize
// raced with a frame and the terminal wrapped or scrolled it).
void ct_repaint(void) { if (active) clearok(curscr, TRUE); }

int ct_read(int timeout_ms, int32_t *code) {
    if (!active) return 0;
    timeout(timeout_ms);
    wint_t ch = 0;
    int r = get_wch(&ch);
    if (r == ERR) return 0;
    *code = (int32_t)ch;
    return r == KEY_CODE_YES ? 2 : 1;
}

int ct_key_up(void) { return KEY_UP; }
int ct_key_down(void) { return KEY_DOWN; }
int ct_key_left(void) { return KEY_LEFT; }
int ct_key_right(void) { return KEY_RIGHT; }
int ct_key_backspace(void) { return KEY_BACKSPACE; }
int ct_key_enter(void) { return KEY_ENTER; }
int ct_key_btab(void) { return KEY_BTAB; }
int ct_key_resize(void) { return KEY_RESIZE; }
int ct_key_home(void) { return KEY_HOME; }
int ct_key_end(void) { return KEY_END; }
int ct_key_ppage(void) { return KEY_PPAGE; }
int ct_key_npage(void) { return KEY_NPAGE; }
int ct_key_dc(void) { return KEY_DC; }

static void on_signal(int sig) { pending_signal = sig; }

void ct_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int ct_take_signal(void) {
    int s = pending_signal;
    pending_signal = 0;
    return s;
}

int ct_isatty(void) { return isatty(0) && isatty(1); }

int ct_can_begin(void) {
    if (!ct_isatty()) return -1;
    const char *term = getenv("TERM");
    if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0) return -1;
    // setupterm with an error slot returns instead of exiting; the terminfo entry it loads is freed again.
    int err = 0;
    if (setupterm(NULL, 1, &err) != OK) return -1;
    del_curterm(cur_term);
    return 0;
}
