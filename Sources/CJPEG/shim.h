// libjpeg-turbo (Debian: libjpeg62-turbo-dev for jpeglib.h, libturbojpeg0-dev for turbojpeg.h).
// Decoding uses the TurboJPEG API, which reports errors as return codes (no longjmp into Swift).
// jpeglib.h needs size_t and FILE declared first.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#include <turbojpeg.h>
