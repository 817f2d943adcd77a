/*
 * hip_api.h - the emulated libamdhip64's API: HIP's own types and prototypes (shared with the
 * shim and the workload, native/include/xsb_hip_abi.h) plus its one non-HIP export. Used by the
 * library itself (so definitions are checked against the prototypes) and by its tests.
 */
#ifndef XSB_HIP_API_H
#define XSB_HIP_API_H

#include "xsb_hip_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* not HIP: 1 when this libamdhip64 is the xsched-bridge emulator (looked up with dlsym). */
XSB_HIP_EXPORT int __hipXsbEmuIsEmulated(void);

#ifdef __cplusplus
}
#endif
#endif /* XSB_HIP_API_H */
