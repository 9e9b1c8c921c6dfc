/**
 * `node dist-bench/bench/fuzz/show-plan.js SESSION_SEED`: prints the plan a fuzzed client
 * session of that seed runs (each write as a JSON string of its latin1 bytes, pauses, data steps,
 * the ending), to read what a failing session sent.
 */
import { generatePlan } from './hostile-client.js';
import { chooseSeed, Prng } from './prng.js';

const given = process.argv[2];
if (given === undefined) {
  console.error('usage: node dist-bench/bench/fuzz/show-plan.js SESSION_SEED');
  process.exit(2);
}
const plan = generatePlan(new Prng(chooseSeed(given)));
for (const step of plan.steps) {
  switch (step.kind) {
    case 'write':
      console.log(`write ${JSON.stringify(step.bytes.toString('latin1'))}`);
      break;
    case 'pause':
      console.log(`pause ${step.ms} ms`);
      break;
    case 'data':
      console.log(`data connection: ${step.action}`);
      break;
  }
}
console.log(`ending: ${plan.ending}`);
