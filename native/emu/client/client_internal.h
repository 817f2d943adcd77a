#ifndef XSB_EMU_CLIENT_INTERNAL_H
#define XSB_EMU_CLIENT_INTERNAL_H
#include "xsb_emu_client.h"

#include <stddef.h>

/* Internal to libxsb_emu_client (hidden from the dynamic symbol table). */
__attribute__((visibility("hidden"))) int xsb_emu__conn_open(uint32_t kind);
__attribute__((visibility("hidden"))) int xsb_emu__thread_fd(void);
__attribute__((visibility("hidden"))) struct xsb_emu_shm *xsb_emu__shm(void);
__attribute__((visibility("hidden"))) size_t xsb_emu__shm_size(void);

#endif
