#include "image_shims.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    const unsigned char *data;
    size_t size;
    size_t position;
    int truncated;
    char *message;
    size_t message_size;
} spk_png_context;

static void spk_png_read(png_structp png, png_bytep out, size_t count) {
    spk_png_context *context = (spk_png_context *)png_get_io_ptr(png);
    if (context->size - context->position < count) {
        context->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(out, context->data + context->position, count);
    context->position += count;
}

static void spk_png_error(png_structp png, png_const_charp text) {
    spk_png_context *context = (spk_png_context *)png_get_error_ptr(png);
    if (context->message != NULL && context->message_size > 0) {
        snprintf(context->message, context->message_size, "%s", text);
    }
    longjmp(context->jump, 1);
}

static void spk_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;  // warnings (bad ancillary CRC, unknown chunks) are not errors
}

static int spk_host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

int spk_png_decode(const unsigned char *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                   spk_png_image *out, char *message, size_t message_size) {
    memset(out, 0, sizeof(*out));
    if (message != NULL && message_size > 0) message[0] = 0;
    spk_png_context context;
    memset(&context, 0, sizeof(context));
    context.data = data;
    context.size = size;
    context.message = message;
    context.message_size = message_size;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, spk_png_error, spk_png_warning);
    if (png == NULL) return SPK_PNG_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return SPK_PNG_NO_MEMORY;
    }
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(context.jump)) {
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return context.truncated ? SPK_PNG_TRUNCATED : SPK_PNG_ERROR;
    }
    png_set_read_fn(png, &context, spk_png_read);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->width = width;
    out->height = height;
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    if (width == 0 || height == 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return SPK_PNG_ZERO_SIZE;
    }
    if (width > max_side || height > max_side || (uint64_t)width * (uint64_t)height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return SPK_PNG_TOO_LARGE;
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16 && spk_host_is_little_endian()) png_set_swap(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    const int channels = png_get_channels(png, info);
    const int depth = png_get_bit_depth(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)width * (size_t)channels * (size_t)(depth / 8)) {
        png_error(png, "unexpected row size after transforms");
    }
    pixels = (unsigned char *)malloc(row_bytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (pixels == NULL || rows == NULL) {
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return SPK_PNG_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->channels = channels;
    out->bit_depth = depth;
    out->pixels = pixels;
    out->byte_count = row_bytes * height;
    return SPK_PNG_OK;
}

void spk_png_free(spk_png_image *image) {
    free(image->pixels);
    image->pixels = NULL;
    image->byte_count = 0;
}

typedef struct {
    jmp_buf jump;
    spk_png_buffer *buffer;
    int out_of_memory;
    char *message;
    size_t message_size;
} spk_png_write_context;

static void spk_png_write_data(png_structp png, png_bytep data, size_t count) {
    spk_png_write_context *context = (spk_png_write_context *)png_get_io_ptr(png);
    spk_png_buffer *buffer = context->buffer;
    if (buffer->capacity - buffer->size < count) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity - buffer->size < count) capacity *= 2;
        unsigned char *grown = (unsigned char *)realloc(buffer->data, capacity);
        if (grown == NULL) {
            context->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, data, count);
    buffer->size += count;
}

static void spk_png_flush(png_structp png) { (void)png; }

static void spk_png_write_error(png_structp png, png_const_charp text) {
    spk_png_write_context *context = (spk_png_write_context *)png_get_error_ptr(png);
    if (context->message != NULL && context->message_size > 0) {
        snprintf(context->message, context->message_size, "%s", text);
    }
    longjmp(context->jump, 1);
}

int spk_png_encode(const unsigned char *pixels, uint32_t width, uint32_t height, int channels,
                   spk_png_buffer *out, char *message, size_t message_size) {
    memset(out, 0, sizeof(*out));
    if (message != NULL && message_size > 0) message[0] = 0;
    if (width == 0 || height == 0) return SPK_PNG_ZERO_SIZE;
    int color_type;
    switch (channels) {
    case 1: color_type = PNG_COLOR_TYPE_GRAY; break;
    case 3: color_type = PNG_COLOR_TYPE_RGB; break;
    case 4: color_type = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default:
        if (message != NULL && message_size > 0) snprintf(message, message_size, "unsupported channel count %d", channels);
        return SPK_PNG_ERROR;
    }
    spk_png_write_context context;
    memset(&context, 0, sizeof(context));
    context.buffer = out;
    context.message = message;
    context.message_size = message_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, spk_png_write_error, spk_png_warning);
    if (png == NULL) return SPK_PNG_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return SPK_PNG_NO_MEMORY;
    }
    if (setjmp(context.jump)) {
        png_destroy_write_struct(&png, &info);
        spk_png_buffer_free(out);
        return context.out_of_memory ? SPK_PNG_NO_MEMORY : SPK_PNG_ERROR;
    }
    png_set_write_fn(png, &context, spk_png_write_data, spk_png_flush);
    png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t row_bytes = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * row_bytes));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return SPK_PNG_OK;
}

void spk_png_buffer_free(spk_png_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
    buffer->capacity = 0;
}
