/*
 * xsb_hint.h - explicit hints for programs running under the xsched-bridge shim
 * (libxsb_hip.so). Without the shim these symbols do not exist: look them up with
 * dlsym(RTLD_DEFAULT, ...) or link weakly. Every function is cheap and never blocks.
 */
#ifndef XSB_HINT_H
#define XSB_HINT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the start of a latency-critical section (online class): the process reports busy at
 * once, without waiting for its first launch. Nests; returns the nesting depth. */
int xsb_online_begin(void);
/* Ends the section begun by xsb_online_begin; idle follows when the GPU work drained. */
int xsb_online_end(void);
/* "online", "offline", or NULL when the process runs unclassified (observe only). */
const char *xsb_class(void);

#ifdef __cplusplus
}
#endif
#endif /* XSB_HINT_H */
