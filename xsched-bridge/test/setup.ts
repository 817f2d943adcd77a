// Each test file gets its own emulator directory (XSB_EMU_DIR), and any device started there
// is stopped when the file is done.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { stopDevice } from '../src/emu.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-test-'));
process.env['XSB_EMU_DIR'] = dir;

afterAll(async () => {
  await stopDevice({ dir });
  rmSync(dir, { recursive: true, force: true });
});
