/** The hands this controller has, from its config: Consul events always; IPMI and Nova when configured. */
import { consulHands, type Hands } from './hands.js';
import type { Runtime } from './runtime.js';

export function handsFor(runtime: Runtime): Hands {
  return consulHands(runtime);
}
