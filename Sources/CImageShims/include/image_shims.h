// C helpers for image decoding that Swift cannot express: libpng reports errors by longjmp, which must not cross
// Swift frames, so the whole libpng read happens here and errors come back as codes and messages.
#ifndef SPIKECLIP_IMAGE_SHIMS_H
#define SPIKECLIP_IMAGE_SHIMS_H

#include <stddef.h>
#include <stdint.h>

/// Result codes of `spk_png_decode`.
enum {
    SPK_PNG_OK = 0,
    /// The data ended before libpng had read what it needed.
    SPK_PNG_TRUNCATED = 1,
    /// libpng reported an error (message filled in).
    SPK_PNG_ERROR = 2,
    /// Width, height or width*height above the limits passed in (width and height are filled in).
    SPK_PNG_TOO_LARGE = 3,
    /// Width or height is zero (filled in).
    SPK_PNG_ZERO_SIZE = 4,
    /// malloc failed.
    SPK_PNG_NO_MEMORY = 5,
};

/// A decoded PNG after the expand transforms: `channels` 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA);
/// `bit_depth` 8 or 16; `pixels` holds height rows of width*channels samples (uint8, or uint16 in host order).
typedef struct {
    uint32_t width;
    uint32_t height;
    int channels;
    int bit_depth;
    int interlaced;
    unsigned char *pixels;
    size_t byte_count;
} spk_png_image;

/// Decodes a whole PNG from memory with libpng: palette -> RGB, gray 1/2/4-bit -> 8-bit, tRNS -> alpha,
/// 16-bit kept, interlacing handled, gamma and colour chunks ignored. On SPK_PNG_OK the caller frees
/// `out->pixels` with `spk_png_free`. `message` (may be NULL) receives libpng's error text.
int spk_png_decode(const unsigned char *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                   spk_png_image *out, char *message, size_t message_size);

/// Frees the pixels of an image filled by `spk_png_decode` (safe on a zeroed image).
void spk_png_free(spk_png_image *image);

/// An encoded PNG in memory; free with `spk_png_buffer_free`.
typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
} spk_png_buffer;

/// Encodes 8-bit pixels (`channels` 1 = gray, 3 = RGB, 4 = RGBA; `height` rows of `width * channels` bytes) as a
/// non-interlaced PNG in memory with libpng. Returns SPK_PNG_OK, SPK_PNG_ERROR (libpng's text in `message`),
/// SPK_PNG_ZERO_SIZE or SPK_PNG_NO_MEMORY. libpng's longjmp never leaves this function.
int spk_png_encode(const unsigned char *pixels, uint32_t width, uint32_t height, int channels,
                   spk_png_buffer *out, char *message, size_t message_size);

/// Frees a buffer filled by `spk_png_encode` (safe on a zeroed buffer).
void spk_png_buffer_free(spk_png_buffer *buffer);

#endif
