// `scripts/chaos [--seed N] [--events N] [--json FILE] [--keep] [--verbose]`: one seeded chaos run, its
// report on stdout, exit 1 on any violation. `--keep` leaves the run's D1/KV files in place
// (the path is printed) to look at with sqlite3.
import { writeFileSync } from "node:fs";
import { formatReport } from "./report.mjs";
import { runChaos } from "./run.mjs";

function parse(argv) {
  const options = { seed: String(Date.now() % 1_000_000), events: 300, json: null, keep: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    if (arg === "--seed") options.seed = value();
    else if (arg === "--events") options.events = Number(value());
    else if (arg === "--json") options.json = value();
    else if (arg === "--keep") options.keep = true;
    else if (arg === "--verbose") options.verbose = true;
    else usage(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.events) || options.events < 1) usage("--events must be a positive integer");
  return options;
}

function usage(problem) {
  console.error(`${problem}\nusage: scripts/chaos [--seed N] [--events N] [--json FILE] [--keep] [--verbose]`);
  process.exit(2);
}

const options = parse(process.argv.slice(2));
console.log(`chaos: seed ${options.seed}, ${options.events} deliveries`);
const report = await runChaos({ ...options, log: (line) => console.log(line) });
console.log(formatReport(report));
if (report.dir) console.log(`run files kept in ${report.dir}`);
if (options.json) writeFileSync(options.json, JSON.stringify(report, null, 2));
process.exit(report.results.some((r) => r.violations.length) ? 1 : 0);
