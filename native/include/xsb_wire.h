/*
 * xsb_wire.h - the one definition of the shim <-> coordinator wire and of the shared-memory
 * control block. TypeScript mirrors it in xsched-bridge/src/wire.ts (one place).
 *
 * Filled in by the hip-shim and coordinator issues; the Foundation issue fixes only the
 * version scheme and the socket/env names every part agrees on.
 */
#ifndef XSB_WIRE_H
#define XSB_WIRE_H

#include <stdint.h>

#define XSB_WIRE_VERSION 1u

/* Environment understood by the shim (DESIGN.md contract). */
#define XSB_ENV_CLASS         "XSB_CLASS"         /* online | offline */
#define XSB_ENV_PRIORITY      "XSB_PRIORITY"      /* 0..15 */
#define XSB_ENV_SOCKET        "XSB_SOCKET"
#define XSB_ENV_LV1_THRESHOLD "XSB_LV1_THRESHOLD"
#define XSB_ENV_LV1_BATCH     "XSB_LV1_BATCH"
#define XSB_ENV_MECHANISM     "XSB_MECHANISM"     /* dbg-trap | deactivate */
#define XSB_ENV_LOG           "XSB_LOG"

#endif /* XSB_WIRE_H */
