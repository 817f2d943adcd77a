#ifndef XSB_EMU_KFD_MARSHAL_H
#define XSB_EMU_KFD_MARSHAL_H
#include "xsb_emu_client.h"
#include "xsb_kfd_abi.h"

/* Performs one KFD ioctl on the emulated driver: >= 0 result or -errno. */
long xsb_emu_kfd_ioctl(int fd, unsigned long request, void *arg);

#endif
