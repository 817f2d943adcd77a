/** libxsbkfd for TypeScript: the KFD debugger path, sysfs discovery and capture parsers. */
export { KfdError, KfdParseError, errnoName } from './errors.js';
export {
  DEBUG_MIN_MINOR,
  EC_MASK_PROCESS_RUNTIME,
  EC_MASK_QUEUE_NEW,
  Kfd,
  KfdOp,
  QUEUE_ERROR,
  QUEUE_INVALID,
  RUNTIME_STATE_UNKNOWN,
  diagnose,
  queueStatus,
  type KfdOpName,
  type QueueStatus,
  type SnapshotEntry,
  type SuspendResult,
} from './device.js';
export {
  CAP_FW_DEBUG,
  gfxName,
  gpuNodes,
  readAmdgpuParams,
  readProcQueues,
  readTopology,
  sysfsRoot,
  type AmdgpuParams,
  type Param,
  type ProcQueue,
  type TopologyNode,
  type TopoProperty,
} from './sysfs.js';
export {
  mqdProcesses,
  parseAmdLog,
  parseHqds,
  parseMqds,
  type HqdSlot,
  type LogEvent,
  type LogEventKind,
  type LogQueue,
  type MqdProcess,
  type MqdQueue,
  type MqdXcc,
} from './parse.js';
export { libraryPath } from './native.js';
