/*
 * xsb_emu_client.h - client side of the emulated AMD GPU (libxsb_emu_client.so).
 *
 * One instance per process, shared by the KFD interposer (libxsb_emu_kfd.so) and the
 * emulated HIP runtime (libamdhip64.so) so both see the same device mapping. Functions
 * return >= 0 on success and -errno on failure; none of them throws or aborts.
 *
 * After fork() the child holds no connection (the parent's are the parent's): the first
 * call in the child reconnects as a new process, as a real child must reopen /dev/kfd.
 */
#ifndef XSB_EMU_CLIENT_H
#define XSB_EMU_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "xsb_emu_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Directory of the device: $XSB_EMU_DIR, else $XDG_RUNTIME_DIR/xsb-emu, else /tmp/xsb-emu-<uid>. */
const char *xsb_emu_dir(void);

/* Connects this process to the device (starting one if none runs, unless
 * XSB_EMU_NO_AUTOSTART=1), maps its memory and returns the mapping. Idempotent, thread-safe. */
int xsb_emu_attach(struct xsb_emu_shm **shm);

/* Starts a device process for `dir` if none runs there and waits until it accepts
 * connections. profile: path of a profile JSON or NULL for $XSB_EMU_PROFILE / defaults.
 * idle_exit_s: seconds without clients after which it exits, 0 = never. */
int xsb_emu_start_device(const char *dir, const char *profile, unsigned idle_exit_s);

/* One RPC on the calling thread's private connection (opened on first use, HELLO
 * XSB_EMU_CONN_THREAD). req->magic/version/tid are filled in. On success rep holds the
 * reply header, arg_out receives rep->arg_size bytes (cap arg_cap), extra_out rep->extra_len
 * bytes (cap extra_cap). Returns 0 when the exchange happened (the result is rep->ret). */
int xsb_emu_rpc(struct xsb_emu_msg *req, const void *arg, const void *extra,
                struct xsb_emu_msg *rep, void *arg_out, size_t arg_cap,
                void *extra_out, size_t extra_cap);

/* A new connection of kind XSB_EMU_CONN_FILE (returns its fd, owned by the caller). */
int xsb_emu_open_file(void);

/* Ring of slot `slot` in this process's mapping, or NULL. */
struct xsb_emu_ring *xsb_emu_ring_at(uint32_t slot);
/* Slot whose packets array starts at addr, or -1 when addr is not a ring in the mapping. */
int xsb_emu_ring_slot_of(uint64_t addr);
struct xsb_emu_signal *xsb_emu_signal_at(uint32_t index);

int xsb_emu_alloc_ring(uint32_t *slot);
int xsb_emu_free_ring(uint32_t slot);
int xsb_emu_alloc_signals(uint32_t count, uint32_t *first);
int xsb_emu_free_signals(uint32_t first, uint32_t count);

/* Tells the device that rings have new packets (an eventfd write). */
void xsb_emu_doorbell(void);

/* Waits until signal->value <= 0 (timeout_ns 0 = forever). 0, or -ETIMEDOUT. */
int xsb_emu_signal_wait(uint32_t index, uint64_t timeout_ns);

/* Loads a profile: defaults, then the JSON file at path (NULL: $XSB_EMU_PROFILE if set).
 * Unknown keys or bad values: -EINVAL with a message in err. */
int xsb_emu_profile_load(const char *path, struct xsb_emu_profile *out, char *err, size_t errlen);

uint64_t xsb_emu_now_ns(void); /* CLOCK_MONOTONIC */

#ifdef __cplusplus
}
#endif
#endif /* XSB_EMU_CLIENT_H */
