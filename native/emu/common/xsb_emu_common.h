/*
 * xsb_emu_common.h - helpers shared by the emulated device and its client library.
 * Internal to native/emu (not part of the client API).
 */
#ifndef XSB_EMU_COMMON_H
#define XSB_EMU_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "xsb_emu_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSBE_HIDDEN __attribute__((visibility("hidden")))

/* The profile used when no file is given (documented in profile.c and profiles/mi300x.json). */
XSBE_HIDDEN void xsbe_profile_defaults(struct xsb_emu_profile *p);

/* Logging to a file. xsbe_log() writes only when verbose logging was enabled
 * (XSB_EMU_LOG=1); xsbe_err() always writes (opening the file on first use). */
XSBE_HIDDEN void xsbe_log_init(const char *path, int verbose);
XSBE_HIDDEN void xsbe_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
XSBE_HIDDEN void xsbe_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
XSBE_HIDDEN int xsbe_log_verbose(void);

#ifdef __cplusplus
}
#endif
#endif
