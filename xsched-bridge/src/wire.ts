/**
 * TypeScript mirror of native/include/xsb_wire.h (the shim <-> coordinator wire). This is
 * the one TS copy: change both together. Filled in by the hip-shim and coordinator issues.
 */
export const XSB_WIRE_VERSION = 1;

/** Environment understood by the shim (DESIGN.md contract). */
export const XSB_ENV = {
  CLASS: 'XSB_CLASS', // online | offline
  PRIORITY: 'XSB_PRIORITY', // 0..15
  SOCKET: 'XSB_SOCKET',
  LV1_THRESHOLD: 'XSB_LV1_THRESHOLD',
  LV1_BATCH: 'XSB_LV1_BATCH',
  MECHANISM: 'XSB_MECHANISM', // dbg-trap | deactivate
  LOG: 'XSB_LOG',
} as const;

export type XsbClass = 'online' | 'offline';
export type XsbMechanism = 'dbg-trap' | 'deactivate';
