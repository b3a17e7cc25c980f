/**
 * The `sluice` command. Each command throws typed errors; this is the one place that catches them,
 * prints them (the stack only with --verbose) and turns them into exit codes.
 */
import { Command, CommanderError, Option } from 'commander';
import { langOf, msg, pickLang, t, type Lang, type MessageCode } from '../core/i18n';
import { SluiceError } from '../core/errors';
import { VERSION } from '../core/version';
import { EXIT, exitCodeOf, exitCodesHelp, formatError } from './exit';

/** The `sluice` program, its help in `lang`. */
export function program(lang: Lang = 'en-US'): Command {
  const h = (code: MessageCode) => t(lang, code);
  const exitCodes = exitCodesHelp(lang);
  const cli = new Command('sluice')
    .description(h('help.sluice_read_sources_into'))
    .version(VERSION, '-V, --version', h('help.version'))
    .helpOption('-h, --help', h('help.help'))
    .option('--verbose', h('help.show_stack_traces_and'))
    .option('--lang <lang>', h('help.the_language_of_messages'))
    // not --env-file: Node reads that flag itself, even after the script name
    .option('--dotenv <file>', h('help.load_environment_variables_from'))
    .addHelpText('after', `${exitCodes}\n\n${h('help.environment')}`)
    .showHelpAfterError()
    .exitOverride();
  // commander's own headings, in the language too (every subcommand inherits this)
  const titles: Record<string, MessageCode> = {
    'Usage:': 'help.title.usage',
    'Arguments:': 'help.title.arguments',
    'Options:': 'help.title.options',
    'Global Options:': 'help.title.global_options',
    'Commands:': 'help.title.commands',
  };
  cli.configureHelp({ styleTitle: (title) => (titles[title] ? h(titles[title]) : title) });

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

  const staging = new Option('--staging <url>', h('help.staging_store_url_overrides'));
  cli
    .command('run')
    .description(h('help.read_every_source_from'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--full', h('help.write_a_full_snapshot'))
    .option('--dry-run', h('help.read_and_report_what'))
    .option('--json', h('help.print_the_run_summary'))
    .option('--metrics-file <path>', h('help.write_the_run_s'))
    .addOption(staging)
    .addHelpText('after', exitCodes)
    .action((file: string, flags) => command<typeof import('./commands/run')>('./commands/run').runCommand(file, flags));
  cli
    .command('validate')
    .description(h('help.check_a_pipeline_file'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--json', h('help.print_the_result_as'))
    .addHelpText('after', exitCodes)
    .action((file: string, flags) => command<typeof import('./commands/validate')>('./commands/validate').validateCommand(file, flags));
  cli
    .command('status')
    .description(h('help.show_checkpoints_recent_runs'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--json', h('help.print_the_status_as'))
    .option('--runs <n>', h('help.how_many_recent_runs'), positiveInt, 5)
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/status')>('./commands/status').statusCommand(file, flags));
  cli
    .command('serve')
    .description(h('help.serve_the_pipelines_their'))
    .argument('<files...>', h('help.pipeline_files_yaml'))
    .option('--port <n>', h('help.port_to_listen_on'), port)
    .option('--host <address>', h('help.address_to_listen_on'), '0.0.0.0')
    .option('--json', h('help.log_one_json_object'))
    .addOption(staging)
    .addHelpText('after', exitCodes)
    .action((files: string[], flags) => command<typeof import('./commands/serve')>('./commands/serve').serveCommand(files, flags));
  cli
    .command('replay')
    .description(h('help.export_again_the_records'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .requiredOption('--source <name>', h('help.the_pushed_source'))
    .requiredOption('--from <time>', h('help.an_iso_8601_time'))
    .option('--json', h('help.print_the_summary_as'))
    .addOption(staging)
    .addHelpText('after', exitCodes)
    .action((file: string, flags) => command<typeof import('./commands/replay')>('./commands/replay').replayCommand(file, flags));
  const quarantine = cli.command('quarantine').description(h('help.records_the_refine_chain'));
  const held = (c: Command) =>
    c
      .option('--source <name>', h('help.only_this_source'))
      .option('--tenant <tenant>', h('help.only_this_tenant'))
      .option('--limit <n>', h('help.at_most_this_many'), positiveInt, 100)
      .option('--json', h('help.print_json'))
      .addOption(staging);
  held(quarantine.command('list').description(h('help.list_held_records_with')).argument('<file>', h('help.pipeline_file_yaml'))).action((file: string, flags) =>
    command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineList(file, flags),
  );
  held(quarantine.command('show').description(h('help.one_held_record_as')).argument('<file>', h('help.pipeline_file')).argument('<key>', h('help.record_key'))).action(
    (file: string, key: string, flags) => command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineShow(file, key, flags),
  );
  held(quarantine.command('retry').description(h('help.run_the_refine_chain')).argument('<file>', h('help.pipeline_file_yaml'))).action((file: string, flags) =>
    command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineRetry(file, flags),
  );
  quarantine
    .command('release')
    .description(h('help.export_held_records_as'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .argument('<keys...>', h('help.record_keys'))
    .requiredOption('--source <name>', h('help.their_source'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, keys: string[], flags) => command<typeof import('./commands/quarantine')>('./commands/quarantine').quarantineRelease(file, keys, flags));
  cli
    .command('audit')
    .description(h('help.what_happened_to_a'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--tenant <tenant>', h('help.only_this_tenant'))
    .option('--since <time>', h('help.an_iso_8601_time'))
    .option('--action <action>', h('help.an_action_or_its'))
    .option('--limit <n>', h('help.at_most_this_many_2'), positiveInt, 100)
    .option('--key <key>', h('help.audit_key'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/audit')>('./commands/audit').auditCommand(file, flags));
  cli
    .command('sync')
    .description(h('help.sync'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--dry-run', h('help.sync_dry_run'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .addHelpText('after', exitCodes)
    .action((file: string, flags) => command<typeof import('./commands/sync')>('./commands/sync').syncCommand(file, flags));
  cli
    .command('check')
    .description(h('help.check'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--repair', h('help.check_repair'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .addHelpText('after', exitCodes)
    .action((file: string, flags) => command<typeof import('./commands/sync')>('./commands/sync').checkCommand(file, flags));
  const conflicts = cli.command('conflicts').description(h('help.conflicts'));
  conflicts
    .command('list')
    .description(h('help.conflicts_list'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--all', h('help.all_conflicts'))
    .option('--limit <n>', h('help.at_most_this_many_2'), positiveInt, 100)
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/sync')>('./commands/sync').conflictsList(file, flags));
  conflicts
    .command('show')
    .description(h('help.conflicts_show'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .argument('<id>', h('help.conflict_id'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, id: string, flags) => command<typeof import('./commands/sync')>('./commands/sync').conflictsShow(file, id, flags));
  conflicts
    .command('resolve')
    .description(h('help.conflicts_resolve'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .argument('<id>', h('help.conflict_id'))
    .option('--take <side>', h('help.take'))
    .option('--set <field=value>', h('help.set'), (v: string, all: string[] = []) => [...all, v])
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, id: string, flags) => command<typeof import('./commands/sync')>('./commands/sync').conflictsResolve(file, id, flags));
  const tokens = cli.command('tokens').description(h('help.api_tokens_each_for'));
  tokens
    .command('create')
    .description(h('help.make_a_token_printed'))
    .argument('<file>', h('help.pipeline_file_yaml_its'))
    .requiredOption('--name <name>', h('help.what_it_is_for'))
    .option('--tenant <tenant>', h('help.the_one_tenant_it'))
    .option('--admin', h('help.may_see_and_do'))
    .option('--expires <duration>', h('help.stop_working_after_this'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensCreate(file, flags));
  tokens
    .command('list')
    .description(h('help.tokens_and_their_scope'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensList(file, flags));
  tokens
    .command('revoke')
    .description(h('help.stop_a_token_working'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .argument('<id>', h('help.token_id_tok'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, id: string, flags) => command<typeof import('./commands/tokens')>('./commands/tokens').tokensRevoke(file, id, flags));
  cli
    .command('secrets')
    .description(h('help.stored_credentials'))
    .command('rotate')
    .description(h('help.seal_every_stored_credential'))
    .argument('<file>', h('help.pipeline_file_yaml_its_2'))
    .option('--json', h('help.print_json'))
    .addOption(staging)
    .action((file: string, flags) => command<typeof import('./commands/secrets')>('./commands/secrets').secretsRotate(file, flags));
  cli
    .command('alerts')
    .description(h('help.alert_rules'))
    .command('export')
    .description(h('help.alerts_export'))
    .argument('<file>', h('help.pipeline_file_yaml'))
    .option('--out <path>', h('help.write_there_instead_of'))
    .action((file: string, flags) => command<typeof import('./commands/alerts')>('./commands/alerts').alertsExport(file, flags));
  const exportsCmd = cli.command('exports').description(h('help.exports'));
  const tenantFlags = (c: Command) =>
    c
      .requiredOption('--tenant <tenant>', h('help.the_tenant_exports_are'))
      .option('--path <path>', h('help.exports_path'))
      .option('--json', h('help.print_json'));
  tenantFlags(exportsCmd.command('list').description(h('help.every_export_of_the')).argument('<file>', h('help.pipeline_file_yaml'))).action((file: string, flags) =>
    command<typeof import('./commands/exports')>('./commands/exports').exportsList(file, flags),
  );
  tenantFlags(exportsCmd.command('show').description(h('help.exports_show')).argument('<file>', h('help.pipeline_file_yaml')).argument('<export>', h('help.export_id_or_latest'))).action(
    (file: string, id: string, flags) => command<typeof import('./commands/exports')>('./commands/exports').exportsShow(file, id, flags),
  );
  tenantFlags(
    exportsCmd.command('diff').description(h('help.keys_added_changed_and')).argument('<file>', h('help.pipeline_file_yaml')).argument('<from>', h('help.export_id')).argument('<to>', h('help.export_id_or_latest')),
  ).action((file: string, from: string, to: string, flags) => command<typeof import('./commands/exports')>('./commands/exports').exportsDiff(file, from, to, flags));
  cli
    .command('schema')
    .description(h('help.print_the_json_schema'))
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
  // the language is needed before the options are parsed: the help itself is in it
  const asked = argv.findIndex((a) => a === '--lang' || a.startsWith('--lang='));
  const flag = asked === -1 ? undefined : argv[asked]!.includes('=') ? argv[asked]!.split('=')[1] : argv[asked + 1];
  const lang = pickLang(langOf(flag), langOf(process.env.SLUICE_LANG));
  process.env.SLUICE_CLI_LANG = lang; // what the commands print is in it too (cli/format)
  const cli = program(lang);
  try {
    await cli.parseAsync(argv);
    // a command that succeeded with something to say (`check` found drift) set its own code
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    process.stderr.write(`${formatError(err, Boolean(cli.opts().verbose), lang)}\n`);
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
