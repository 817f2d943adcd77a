/** `xsched-bridge stage`: the staged verification (filled in below). */
import type { Command } from 'commander';

export function registerStageCommand(program: Command): void {
  program.command('stage').description('run the staged verification (stages 1-4)');
}
