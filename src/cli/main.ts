/**
 * The `sluice` command. Each command throws typed errors; this is the one place that catches them,
 * prints them (the stack only with --verbose) and turns them into exit codes.
 */
import { Command, CommanderError, Option } from 'commander';
import { langOf, msg, pickLang } from '../core/i18n';
import { SluiceError } from '../core/errors';
import { VERSION } from '../core/version';
import { EXIT, EXIT_CODES_HELP, exitCodeOf, formatError } from './exit';

export function program(): Command {
  const cli = new Command('sluice')
    .description('Sluice: read sources into a checkpointed staging store and export per-tenant datasets.')
    .version(VERSION)
    .option('--verbose', 'show stack traces and causes of errors')
    .option('--lang <lang>', 'the language of messages: en-US or zh-CN (default SLUICE_LANG, else en-US)')
    // not --env-file: Node reads that flag itself, even after the script name
    .option('--dotenv <file>', 'load environment variables from a file (KEY=value lines) before reading pipeline files')
    .addHelpText('after', `${EXIT_CODES_HELP}\n\nEnvironment:\n  SLUICE_STAGING_URL  the staging store (postgres://… or sqlite:path); default sqlite:.sluice/staging.db
  SLUICE_LANG         the language of messages: en-US (default) or zh-CN`)
    .showHelpAfterError()
    .exitOverride();

  cli.hook('preAction', (cmd) => {
    const envFile = cmd.opts().dotenv as string | undefined;
    if (envFile) {
      try {
        process.loadEnvFile(envFile);
      } catch (err) {
        throw new SluiceError('SLUICE_USAGE', msg('err.cli.main.1', { envFile, reason: (err as Error).message }));
      }
    }
  });

  const staging = new Option('--staging <url>', 'staging store URL (overrides SLUICE_STAGING_URL and the file)');
  cli
    .command('run')
    .description('read every source from its checkpoint, stage what changed, and export it per tenant')
    .argument('<file>', 'pipeline file (YAML)')
    .option('--full', 'write a full snapshot per tenant instead of the changes since the previous export')
    .option('--dry-run', 'read and report what would be staged, writing nothing')
    .option('--json', 'print the run summary as JSON')
    .option('--metrics-file <path>', 'write the run\'s Prometheus metrics there (node_exporter textfile format), whatever the outcome')
    .addOption(staging)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, flags) => command<typeof import('./commands/run')>('./commands/run').runCommand(file, flags));
  cli
    .command('validate')
    .description('check a pipeline file (YAML, schema, ${VAR}s) without connecting to anything')
    .argument('<file>', 'pipeline file (YAML)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, flags) => command<typeof import('./commands/validate')>('./commands/validate').validateCommand(file, flags));
  cli
    .command('status')
    .description('show checkpoints, recent runs, staged records per tenant and the latest exports')
    .argument('<file>', 'pipeline file (YAML)')
    .option('--json', 'print the status as JSON')
    .option('--runs <n>', 'how many recent runs to show', positiveInt, 5)
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/status')>('./commands/status').statusCommand(file, flags));
  cli
    .command('serve')
    .description('serve the pipelines: their webhook routes (POST /hooks/<pipeline>/<source>), their schedules and /health')
    .argument('<files...>', 'pipeline files (YAML)')
    .option('--port <n>', 'port to listen on (default: PORT, else 8080)', port)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--json', 'log one JSON object per line')
    .addOption(staging)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((files: string[], flags) => command<typeof import('./commands/serve')>('./commands/serve').serveCommand(files, flags));
  cli
    .command('replay')
    .description('export again the records of a pushed source whose deliveries arrived since a time, without staging them again')
    .argument('<file>', 'pipeline file (YAML)')
    .requiredOption('--source <name>', 'the pushed source')
    .requiredOption('--from <time>', 'an ISO-8601 time, or a duration back from now (2h, 7d)')
    .option('--json', 'print the summary as JSON')
    .addOption(staging)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, flags) => command<typeof import('./commands/replay')>('./commands/replay').replayCommand(file, flags));
  const quarantine = cli.command('quarantine').description('records the refine chain held back (quarantined) or failed on');
  const held = (c: Command) =>
    c
      .option('--source <name>', 'only this source')
      .option('--tenant <tenant>', 'only this tenant')
      .option('--limit <n>', 'at most this many records', positiveInt, 100)
      .option('--json', 'print JSON')
      .addOption(staging);
  held(quarantine.command('list').description('list held records with every reason').argument('<file>', 'pipeline file (YAML)')).action((file: string, flags) =>
    command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineList(file, flags),
  );
  held(quarantine.command('show').description('one held record as staged, with its failures and provenance').argument('<file>', 'pipeline file').argument('<key>', 'record key')).action(
    (file: string, key: string, flags) => command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineShow(file, key, flags),
  );
  held(quarantine.command('retry').description('run the refine chain again on held records').argument('<file>', 'pipeline file (YAML)')).action((file: string, flags) =>
    command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineRetry(file, flags),
  );
  quarantine
    .command('release')
    .description('export held records as they were staged')
    .argument('<file>', 'pipeline file (YAML)')
    .argument('<keys...>', 'record keys')
    .requiredOption('--source <name>', 'their source')
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, keys: string[], flags) => command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineRelease(file, keys, flags));
  cli
    .command('audit')
    .description('what happened to a pipeline (runs, exports published, alerts, releases), newest first')
    .argument('<file>', 'pipeline file (YAML)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--since <time>', 'an ISO-8601 time, or a duration back from now (2h, 7d)')
    .option('--action <action>', 'an action or its prefix (alert., run.failed)')
    .option('--limit <n>', 'at most this many entries', positiveInt, 100)
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/audit')>('./commands/audit').auditCommand(file, flags));
  const tokens = cli.command('tokens').description('API tokens, each for one tenant or admin (stored hashed)');
  tokens
    .command('create')
    .description('make a token (printed once)')
    .argument('<file>', 'pipeline file (YAML): its staging store keeps the token')
    .requiredOption('--name <name>', 'what it is for')
    .option('--tenant <tenant>', 'the one tenant it may see')
    .option('--admin', 'may see and do everything')
    .option('--expires <duration>', 'stop working after this long (90d, 12h); default never')
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensCreate(file, flags));
  tokens
    .command('list')
    .description('tokens and their scope (never their secrets)')
    .argument('<file>', 'pipeline file (YAML)')
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensList(file, flags));
  tokens
    .command('revoke')
    .description('stop a token working')
    .argument('<file>', 'pipeline file (YAML)')
    .argument('<id>', 'token id (tok_…)')
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, id: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensRevoke(file, id, flags));
  cli
    .command('secrets')
    .description('stored credentials')
    .command('rotate')
    .description('seal every stored credential again with the current key (the first in SLUICE_SECRET_KEY)')
    .argument('<file>', 'pipeline file (YAML): its staging store keeps the credentials')
    .option('--json', 'print JSON')
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/secrets')>('./commands/secrets').secretsRotate(file, flags));
  cli
    .command('alerts')
    .description('alert rules')
    .command('export')
    .description("write the pipeline's alert rules as a Prometheus rules file (promtool check rules accepts it)")
    .argument('<file>', 'pipeline file (YAML)')
    .option('--out <path>', 'write there instead of to stdout')
    .action((file: string, flags) => command<typeof import('./commands/alerts')>('./commands/alerts').alertsExport(file, flags));
  const exportsCmd = cli.command('exports').description("a tenant's exports: list them, show one, diff two");
  const tenantFlags = (c: Command) =>
    c
      .requiredOption('--tenant <tenant>', 'the tenant (exports are read one tenant at a time)')
      .option('--path <path>', "which of the pipeline's export paths (default: the first)")
      .option('--json', 'print JSON');
  tenantFlags(exportsCmd.command('list').description('every export of the tenant, oldest first').argument('<file>', 'pipeline file (YAML)')).action((file: string, flags) =>
    command<typeof import('./commands/exports')>('./commands/exports').exportsList(file, flags),
  );
  tenantFlags(exportsCmd.command('show').description("one export's manifest (an id, or latest)").argument('<file>', 'pipeline file (YAML)').argument('<export>', 'export id, or latest')).action(
    (file: string, id: string, flags) => command<typeof import('./commands/exports')>('./commands/exports').exportsShow(file, id, flags),
  );
  tenantFlags(
    exportsCmd.command('diff').description('keys added, changed and removed between two exports').argument('<file>', 'pipeline file (YAML)').argument('<from>', 'export id').argument('<to>', 'export id, or latest'),
  ).action((file: string, from: string, to: string, flags) => command<typeof import('./commands/exports')>('./commands/exports').exportsDiff(file, from, to, flags));
  cli
    .command('schema')
    .description('print the JSON Schema of pipeline files, for editors')
    .action(() => command<typeof import('./commands/schema')>('./commands/schema').schemaCommand());
  return cli;
}

/** A command's module, loaded when the command runs: `sluice run` need not load the HTTP server. */
function command<M>(path: string): M {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path) as M;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SluiceError('SLUICE_USAGE', msg('err.cli.main.2', { value }));
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new SluiceError('SLUICE_USAGE', msg('err.cli.main.3', { value }));
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    const lang = pickLang(langOf(cli.opts().lang as string | undefined), langOf(process.env.SLUICE_LANG));
    process.stderr.write(`${formatError(err, Boolean(cli.opts().verbose), lang)}\n`);
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
