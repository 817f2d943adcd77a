/** A stage check: an id (S<stage>.<n>), a name, and how to run it. */
import type { Outcome, StageContext } from './context.js';

export interface Check {
  id: string;
  stage: 1 | 2 | 3 | 4;
  name: string;
  run: (ctx: StageContext) => Promise<Outcome>;
}
