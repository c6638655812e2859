#!/usr/bin/env node
// The `syncbn` command: a table of subcommands (add one by adding an entry to COMMANDS).
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { predictCommand } from './predict.js';
import { webCommand } from './web.js';

export interface Command {
  /** One line for `syncbn --help`. */
  summary: string;
  /** Full usage text for `syncbn <name> --help`. */
  usage: string;
  /** Run with the arguments after the subcommand name; resolves to the process exit code. */
  main(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  run: runCommand,
  demo: demoCommand,
  export: exportCommand,
  predict: predictCommand,
  web: webCommand,
};

function help(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    'usage: syncbn <command> [options]',
    '',
    'commands:',
    ...rows,
    '',
    'Run `syncbn <command> --help` for a command’s options.',
  ].join('\n');
}

/** Exit code 2 for usage errors (as most CLIs), 1 for failures, 0 for success. */
export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    process.stderr.write(`syncbn: unknown command ${JSON.stringify(name)}\n\n${help()}\n`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  return cmd.main(rest);
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`syncbn: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
