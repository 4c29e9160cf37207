// A tiny C layer over ncursesw for Swift: Swift 6 cannot touch curses' C globals (stdscr, LINES, COLS) or its macros
// (COLOR_PAIR), so this header exposes plain functions only. Signal handlers here only set flags.
#ifndef CTERMINAL_H
#define CTERMINAL_H

#include <stdint.h>

/// Starts curses on the controlling terminal. Returns 0 on success, -1 if the terminal cannot be initialised
/// (no terminal, TERM unknown or dumb).
int ct_begin(int want_color);
/// 0 when ct_begin would find a usable terminal (stdin/stdout are terminals, TERM known and not dumb), -1 otherwise;
/// starts nothing.
int ct_can_begin(void);
/// Restores the terminal (idempotent; safe from atexit and error paths).
void ct_end(void);
/// 1 while curses is active.
int ct_active(void);
int ct_lines(void);
int ct_cols(void);
/// Number of colors (0 when color is off or unsupported).
int ct_colors(void);
void ct_init_pair(short pair, short fg, short bg);
/// Clears the back buffer.
void ct_erase(void);
/// Attribute bits for ct_put's `style`.
#define CT_BOLD 1
#define CT_DIM 2
#define CT_UNDERLINE 4
#define CT_REVERSE 8
/// Writes UTF-8 text at (y, x) with color pair `pair` (0 = default) and the CT_* attribute bits in `style`.
void ct_put(int y, int x, const char *utf8, short pair, int style);
/// Paints erased cells with color pair `pair` (the light theme's white background); no-op without colors.
void ct_background(short pair);
/// Turns mouse reporting (button 1 presses, wheel) on or off.
void ct_mouse(int on);
int ct_key_mouse(void);
/// After ct_read returned KEY_MOUSE: the cell in *x, *y and 1 (button 1), 4 (wheel up), 5 (wheel down) or 0 (other).
int ct_get_mouse(int *x, int *y);
/// Flushes the back buffer to the terminal.
void ct_refresh(void);
void ct_repaint(void);
/// Waits up to timeout_ms (-1 = forever) for input. Returns 0 on timeout, 1 for a character (in *code, a Unicode
/// scalar), 2 for a key code (in *code, curses KEY_* value).
int ct_read(int timeout_ms, int32_t *code);
/// Key codes Swift needs (curses macros are not importable).
int ct_key_up(void);
int ct_key_down(void);
int ct_key_left(void);
int ct_key_right(void);
int ct_key_backspace(void);
int ct_key_enter(void);
int ct_key_btab(void);
int ct_key_resize(void);
int ct_key_home(void);
int ct_key_end(void);
int ct_key_ppage(void);
int ct_key_npage(void);
int ct_key_dc(void);
/// Installs SIGINT/SIGTERM/SIGHUP handlers that only record the signal; returns and clears it (0 if none).
void ct_install_signal_handlers(void);
int ct_take_signal(void);
/// 1 if standard input and output are terminals.
int ct_isatty(void);

#endif
