/**
 * Not a second rule: the coordinator uses ../socket-path.ts (resolveSocketPath), the one rule
 * every command follows. This alias only keeps test/run.test.ts's import working; delete it
 * once that test imports ../src/socket-path.js.
 */
export { defaultSocketPath } from '../socket-path.js';
